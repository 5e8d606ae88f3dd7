/// The expert activation and its derivative, row by row, evaluated in Double.
///
/// SwiGLU: A = silu(g)·u, silu(g) = g·σ(g). GeGLU: A = gelu(g)·u with the tanh approximation
/// gelu(g) = ½g(1 + tanh(√(2/π)(g + 0.044715g³))) (PyTorch `gelu(approximate="tanh")`). ReLU²: A = max(h, 0)².
extension Activation {
    /// A[0..<n] from one row of H (2n columns for gated activations, n otherwise).
    @inline(__always) @usableFromInline
    func apply<S: BinaryFloatingPoint>(_ h: UnsafePointer<S>, into a: UnsafeMutablePointer<S>, width n: Int) {
        switch self {
        case .swiglu, .geglu:
            for i in 0..<n { a[i] = S(gate(Double(h[i])).value * Double(h[n + i])) }
        case .reluSquared:
            for i in 0..<n {
                let r = max(Double(h[i]), 0)
                a[i] = S(r * r)
            }
        }
    }

    /// dH for one row from H and dA (the gradient with respect to A, already scaled by the score).
    @inline(__always) @usableFromInline
    func backward<S: BinaryFloatingPoint>(
        _ h: UnsafePointer<S>, gradient dA: UnsafePointer<S>, into dH: UnsafeMutablePointer<S>, width n: Int
    ) {
        switch self {
        case .swiglu, .geglu:
            for i in 0..<n {
                let (value, slope) = gate(Double(h[i]))
                let up = Double(h[n + i]), grad = Double(dA[i])
                dH[i] = S(grad * up * slope)
                dH[n + i] = S(grad * value)
            }
        case .reluSquared:
            for i in 0..<n { dH[i] = S(Double(dA[i]) * 2 * max(Double(h[i]), 0)) }
        }
    }

    /// The gate function act(g) and its derivative act′(g) of a gated activation.
    @inline(__always) @usableFromInline
    func gate(_ g: Double) -> (value: Double, slope: Double) {
        if self == .geglu {
            let c = 0.797_884_560_802_865_4  // √(2/π)
            let th = Elementary.tanh(c * (g + 0.044715 * g * g * g))
            return (0.5 * g * (1 + th), 0.5 * (1 + th) + 0.5 * g * (1 - th * th) * c * (1 + 3 * 0.044715 * g * g))
        }
        let sigma = Elementary.sigmoid(g)
        return (g * sigma, sigma * (1 + g * (1 - sigma)))
    }
}
