extension QuantizedTensor {
    /// Quantizes row-major `values` of `shape` to FP8 codes with one scale per block of `layout`.
    ///
    /// Scales, from each block's largest magnitude amax:
    /// - ``BlockLayout/mx(_:)``: a power of two 2^k by the ``MXScaleRule``, k clamped to -127...127; an
    ///   all-zero block gets 2^-127 (E8M0 code 0x00).
    /// - ``BlockLayout/float32Blocks(rows:columns:)``: amax / max of the element format in float32, at least
    ///   2^-126 (so that tiny blocks do not divide by zero); an all-zero block gets 1.
    ///
    /// Each code is `element.encode(value / scale)`: round to nearest even, saturating at ±max.
    ///
    /// ```swift
    /// let w = try QuantizedTensor.quantize(weights, shape: [hidden, 2 * intermediate], layout: .blockwise128x128)
    /// let a = try QuantizedTensor.quantize(tokens, shape: [count, hidden], element: .e4m3, layout: .mx(.roundUp))
    /// ```
    ///
    /// - Throws: ``FormatError`` when `values.count` does not match `shape`, the layout's block is empty or
    ///   taller than one row for a rank-1 shape, or a value is NaN or infinite (a scale cannot represent it).
    public static func quantize(
        _ values: [Float], shape: [Int], element: FP8Format = .e4m3, layout: BlockLayout
    ) throws(FormatError) -> QuantizedTensor {
        let grid = try BlockGrid(shape: shape, layout: layout)
        guard values.count == grid.elementCount else {
            throw FormatError(.shapeMismatch, "shape \(shape) has \(grid.elementCount) elements, got \(values.count) values")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw FormatError(.nonFiniteInput, "value \(bad) is \(values[bad]); quantization needs finite values")
        }
        var codes = [UInt8](repeating: 0, count: values.count)
        var scales = [Float](repeating: 0, count: grid.blockCount)
        grid.forEachBlock { block, rowRange, columnRange in
            var amax: Float = 0
            for row in rowRange {
                let base = row &* grid.columns
                for column in columnRange { amax = max(amax, abs(values[base &+ column])) }
            }
            let scale = blockScale(amax: amax, element: element, layout: layout)
            scales[block] = scale
            for row in rowRange {
                let base = row &* grid.columns
                for column in columnRange { codes[base &+ column] = element.encode(values[base &+ column] / scale) }
            }
        }
        return QuantizedTensor(unchecked: shape, element: element, layout: layout, codes: codes, scales: scales)
    }

    /// The scale of a block whose largest magnitude is `amax` (finite, ≥ 0).
    static func blockScale(amax: Float, element: FP8Format, layout: BlockLayout) -> Float {
        switch layout {
        case let .mx(rule):
            guard amax > 0 else { return Float8E8M0(exponent: -127).floatValue }
            let exponent: Int
            switch rule {
            case .ocp:
                exponent = Int(amax.exponent) - element.maxExponent
            case .roundUp:
                // amax / 2^k ≤ max = 1.75 × 2^emax ⇔ k ≥ e(amax) − emax, plus one more when amax's
                // significand exceeds max's. Exact, with no division to round.
                let maxSignificand = element.greatestFiniteMagnitude.significand
                exponent = Int(amax.exponent) - element.maxExponent + (amax.significand > maxSignificand ? 1 : 0)
            }
            return Float8E8M0(exponent: min(max(exponent, -127), 127)).floatValue
        case .float32Blocks:
            guard amax > 0 else { return 1 }
            return max(amax / element.greatestFiniteMagnitude, Float.leastNormalMagnitude)
        }
    }
}
