import Foundation
import OpenBLAS
import TIFF
import Testing
import ZeroMQ
import Zlib

@Suite struct ZeroMQTests {
    /// Frames arrive whole and in order; the socket file is gone once the socket closes.
    @Test func multipartMessagesRoundTripOverIPC() throws {
        let context = try ZMQContext()
        let path = "\(NSTemporaryDirectory())tessera-zmq-\(UUID().uuidString)"
        do {
            let server = try ZMQSocket(context: context, type: .router)
            try server.bind("ipc://" + path)
            #expect(FileManager.default.fileExists(atPath: path))
            let client = try ZMQSocket(context: context, type: .dealer)
            try client.setRoutingID(Array("worker-1".utf8))
            try client.connect("ipc://" + path)
            try client.send([[1, 2, 3], [], Array(repeating: 7, count: 100_000)])
            #expect(try ZMQPoller.pollIn([server], timeoutMilliseconds: 5000) == [true])
            let frames = try #require(try server.receive())
            #expect(frames.count == 4)
            #expect(frames[0] == Array("worker-1".utf8))
            #expect(frames[1] == [1, 2, 3] && frames[2].isEmpty && frames[3].count == 100_000)
            #expect(try server.receive(dontWait: true) == nil)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// Large frames go without a copy: what arrives is what was sent, even when the sender
    /// changes or drops its array at once, and many in flight at once all arrive intact.
    @Test func largeFramesSentWithoutACopyArriveIntact() throws {
        let context = try ZMQContext()
        let server = try ZMQSocket(context: context, type: .pull)
        try server.bind("tcp://127.0.0.1:*")
        let client = try ZMQSocket(context: context, type: .push)
        try client.connect(try server.lastEndpoint)
        let size = ZMQSocket.zeroCopyBytes + 13
        func frame(_ seed: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) } }
        for seed in 0..<20 {
            var bytes = frame(seed)
            try client.send([[UInt8(seed)], bytes])
            bytes[0] ^= 0xFF  // the sender's next write must not reach the message in flight
            bytes[size - 1] ^= 0xFF
        }
        for seed in 0..<20 {
            #expect(try ZMQPoller.pollIn([server], timeoutMilliseconds: 5000) == [true])
            let frames = try #require(try server.receive())
            #expect(frames.count == 2 && frames[0] == [UInt8(seed)])
            let intact = frames.count == 2 && frames[1] == frame(seed)
            #expect(intact, "frame \(seed)")
        }
    }

    @Test func oversizedMessagesAreDroppedByLibzmq() throws {
        let context = try ZMQContext()
        let server = try ZMQSocket(context: context, type: .pull)
        try server.setMaxMessageSize(1000)
        try server.bind("tcp://127.0.0.1:*")
        let endpoint = try server.lastEndpoint
        let client = try ZMQSocket(context: context, type: .push)
        try client.connect(endpoint)
        try client.send([Array(repeating: 0, count: 5000)])
        #expect(try ZMQPoller.pollIn([server], timeoutMilliseconds: 300) == [false])
    }

    @Test func curveRefusesAClientWithoutTheServerKey() throws {
        #expect(ZMQContext.has("curve"))
        let serverKeys = try CurveKeyPair.generate()
        #expect(try CurveKeyPair.publicKey(for: serverKeys.secretKey) == serverKeys.publicKey)
        let context = try ZMQContext()
        let server = try ZMQSocket(context: context, type: .pull)
        try server.makeCurveServer(secretKey: serverKeys.secretKey)
        try server.bind("tcp://127.0.0.1:*")
        let endpoint = try server.lastEndpoint

        let plain = try ZMQSocket(context: context, type: .push)
        try plain.connect(endpoint)
        try plain.send([[42]], dontWait: true)
        #expect(try ZMQPoller.pollIn([server], timeoutMilliseconds: 300) == [false])

        let clientKeys = try CurveKeyPair.generate()
        let secure = try ZMQSocket(context: context, type: .push)
        try secure.makeCurveClient(serverKey: serverKeys.publicKey, publicKey: clientKeys.publicKey, secretKey: clientKeys.secretKey)
        try secure.connect(endpoint)
        try secure.send([[43]])
        #expect(try ZMQPoller.pollIn([server], timeoutMilliseconds: 5000) == [true])
        #expect(try server.receive() == [[43]])
    }

    @Test func errorsNameTheCall() throws {
        let socket = try ZMQSocket(context: try ZMQContext(), type: .pair)
        #expect { try socket.bind("nonsense://x") } throws: { "\($0)".contains("zmq_bind nonsense://x") }
    }
}

@Suite struct OpenBLASTests {
    @Test func sgemmMatchesANaiveProduct() {
        let m = 7, n = 5, k = 9
        let a = (0..<(m * k)).map { Float(($0 * 37) % 11) - 5 }
        let b = (0..<(k * n)).map { Float(($0 * 53) % 13) - 6 }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
        for i in 0..<m {
            for j in 0..<n {
                let expected = (0..<k).reduce(Float(0)) { $0 + a[i * k + $1] * b[$1 * n + j] }
                #expect(c[i * n + j] == expected)
            }
        }
        var ct = [Float](repeating: 0, count: n * m)
        BLAS.sgemm(transposeA: true, transposeB: true, m: n, n: m, k: k, a: b, lda: n, b: a, ldb: k, c: &ct, ldc: m)
        for i in 0..<m { for j in 0..<n { #expect(ct[j * m + i] == c[i * n + j]) } }
        #expect(BLAS.buildConfiguration.contains("OpenBLAS") && !BLAS.coreName.isEmpty)
    }
}

@Suite struct ZlibAndTIFFTests {
    @Test func zlibRoundTripsAndChecksums() throws {
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * $0) }
        #expect(try Zlib.decompress(Zlib.compress(data), size: data.count) == data)
        #expect(Zlib.crc32(Array("IEND".utf8)) == 0xAE42_6082)
        #expect(throws: Zlib.Failure.self) { try Zlib.decompress([1, 2, 3], size: 10) }
    }

    @Test func libtiffMessagesBecomeErrorsNotPrints() {
        #expect { try TIFFFile(path: "/nonexistent/x.tif", mode: "r") } throws: {
            guard let error = $0 as? TIFFError else { return false }
            return error.path == "/nonexistent/x.tif" && !error.reason.isEmpty
        }
    }
}
