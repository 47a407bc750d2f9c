import COpenBLAS

/// Single-precision matrix products on OpenBLAS, with no C type in the interface.
public enum BLAS {
    /// C = alpha · op(A) · op(B) + beta · C for row-major matrices, where op(A) is m×k,
    /// op(B) is k×n and C is m×n; `lda`, `ldb`, `ldc` are row strides in elements.
    /// The corresponding C function is `cblas_sgemm`.
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// The number of threads OpenBLAS uses for one call.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// OpenBLAS's version and build options.
    public static var buildConfiguration: String { String(cString: openblas_get_config()) }

    /// The CPU kernel OpenBLAS chose (or was told to use by `OPENBLAS_CORETYPE`), e.g. "Haswell".
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
