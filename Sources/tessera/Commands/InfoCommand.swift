import ArgumentParser
import Engine
import Foundation
import OpenBLAS
import Segmentation
import ZeroMQ

/// `tessera info`: what this machine runs, for comparing the nodes of a cluster.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print the engine kernels, OpenBLAS kernel and libraries this machine uses.",
        discussion: """
            Nodes whose engine kernels and OpenBLAS kernel agree compute bit-identical probability \
            maps. For that reason Tessera runs one OpenBLAS kernel per CPU family: SkylakeX on \
            every CPU with AVX-512, Haswell on every other CPU with AVX2 and FMA. Set \
            TESSERA_BLAS_CORE=haswell on every node of a cluster that mixes the two families (one \
            kernel everywhere, a little slower on AVX-512), TESSERA_BLAS_CORE=native for OpenBLAS's \
            own choice, or OPENBLAS_CORETYPE for a kernel of your own. The engine kernels run the \
            widest build the CPU allows (AVX-512, AVX2 or baseline x86-64; AVX-512 and AVX2 give the \
            same bits); TESSERA_KERNELS=avx2 or baseline caps it.
            """
    )

    func run() throws {
        print(
            "engine kernels: \(KernelSet.build)\(KernelSet.build == .avx512 ? ", computing the AVX2 build's bits" : "") (CPU has AVX2 and FMA: \(KernelSet.cpuHasAVX2AndFMA ? "yes" : "no"), AVX-512: \(KernelSet.cpuHasAVX512 ? "yes" : "no"))"
        )
        print("OpenBLAS kernel: \(BLAS.coreName)")
        print("OpenBLAS build: \(BLAS.buildConfiguration)")
        let zmq = ZMQContext.version
        print("ZeroMQ: \(zmq.major).\(zmq.minor).\(zmq.patch), CURVE \(ZMQContext.has("curve") ? "available" : "missing")")
        print("slides: \(SlideReader.readers)")
        print("cores: \(ProcessInfo.processInfo.activeProcessorCount)")
    }
}
