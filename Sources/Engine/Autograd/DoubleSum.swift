/// Reductions of a plane in double precision, in four running sums (term i goes to sum
/// i mod 4, the last count mod 4 terms to the first) added as (s0 + s1) + (s2 + s3): the
/// order depends on the count alone, and each chain of dependent additions is a quarter
/// as long as one running sum's, which kept the batch norms waiting on the adder.
enum DoubleSum {
    @inline(__always)
    static func sum(_ count: Int, _ term: (Int) -> Double) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, i = 0
        while i + 4 <= count {
            s0 += term(i)
            s1 += term(i + 1)
            s2 += term(i + 2)
            s3 += term(i + 3)
            i += 4
        }
        while i < count {
            s0 += term(i)
            i += 1
        }
        return (s0 + s1) + (s2 + s3)
    }

    /// Two sums over the same terms' index at once, each as `sum` adds them.
    @inline(__always)
    static func sums(_ count: Int, _ terms: (Int) -> (Double, Double)) -> (Double, Double) {
        var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0, b0 = 0.0, b1 = 0.0, b2 = 0.0, b3 = 0.0, i = 0
        while i + 4 <= count {
            let t0 = terms(i), t1 = terms(i + 1), t2 = terms(i + 2), t3 = terms(i + 3)
            a0 += t0.0
            b0 += t0.1
            a1 += t1.0
            b1 += t1.1
            a2 += t2.0
            b2 += t2.1
            a3 += t3.0
            b3 += t3.1
            i += 4
        }
        while i < count {
            let t = terms(i)
            a0 += t.0
            b0 += t.1
            i += 1
        }
        return ((a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3))
    }
}
