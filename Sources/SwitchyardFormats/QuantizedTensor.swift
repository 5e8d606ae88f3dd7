/// A tensor of FP8 codes with one scale per block: value ≈ decode(code) × scale.
///
/// Codes are stored row-major in `shape`; scales row-major in ``scaleShape`` (the shape with its last two
/// axes counted in blocks, see ``BlockLayout``). Scales are float32 for every layout; for ``BlockLayout/mx(_:)``
/// they are powers of two that E8M0 holds exactly, and ``scaleBitPatterns`` gives their E8M0 codes.
///
/// ```swift
/// let x = try QuantizedTensor.quantize(values, shape: [tokens, hidden], layout: .tokenwise1x128)
/// let approx = x.dequantized()
/// ```
public struct QuantizedTensor: Sendable, Equatable {
    public let shape: [Int]
    public let element: FP8Format
    public let layout: BlockLayout
    /// FP8 bit patterns, row-major in `shape`.
    public let codes: [UInt8]
    /// One scale per block, row-major in `scaleShape`.
    public let scales: [Float]

    /// Assembles a quantized tensor from its parts (for example, read from a checkpoint), checking that
    /// the counts match the shape and layout and that every scale is one the layout can hold
    /// (positive and finite; for MX, a power of two in 2^-127 ... 2^127).
    public init(shape: [Int], element: FP8Format, layout: BlockLayout, codes: [UInt8], scales: [Float]) throws(FormatError) {
        let grid = try BlockGrid(shape: shape, layout: layout)
        guard codes.count == grid.elementCount else {
            throw FormatError(.shapeMismatch, "shape \(shape) needs \(grid.elementCount) codes, got \(codes.count)")
        }
        guard scales.count == grid.blockCount else {
            throw FormatError(
                .shapeMismatch, "shape \(shape) with \(layout) needs \(grid.blockCount) scales \(grid.scaleShape), got \(scales.count)")
        }
        for (index, scale) in scales.enumerated() {
            guard scale > 0, scale.isFinite else {
                throw FormatError(.invalidScale, "scale \(index) is \(scale); scales must be positive and finite")
            }
            if case .mx = layout, Float8E8M0(scale).floatValue != scale {
                throw FormatError(
                    .invalidScale, "MX scale \(index) is \(scale); MX scales must be powers of two in 2^-127 ... 2^127")
            }
        }
        self.init(unchecked: shape, element: element, layout: layout, codes: codes, scales: scales)
    }

    init(unchecked shape: [Int], element: FP8Format, layout: BlockLayout, codes: [UInt8], scales: [Float]) {
        self.shape = shape
        self.element = element
        self.layout = layout
        self.codes = codes
        self.scales = scales
    }

    /// The shape of `scales`: `shape` with its last two axes (or its single axis) counted in blocks.
    public var scaleShape: [Int] { grid.scaleShape }

    /// The E8M0 bit patterns of the scales for an MX layout; nil for float32 block scales.
    public var scaleBitPatterns: [UInt8]? {
        guard case .mx = layout else { return nil }
        return scales.map { Float8E8M0($0).bitPattern }
    }

    /// decode(code) × scale for every element, row-major in `shape`. Exact in float32 for MX layouts
    /// (a power-of-two scale); one float32 rounding per element for float32 block scales.
    public func dequantized() -> [Float] {
        var values = [Float](repeating: 0, count: codes.count)
        let element = element
        grid.forEachBlock { block, rowRange, columnRange in
            let scale = scales[block]
            for row in rowRange {
                let base = row &* grid.columns
                for column in columnRange {
                    values[base &+ column] = element.decode(codes[base &+ column]) * scale
                }
            }
        }
        return values
    }

    /// The geometry; the shape and layout were validated when the tensor was made.
    var grid: BlockGrid {
        do {
            return try BlockGrid(shape: shape, layout: layout)
        } catch {
            preconditionFailure("a QuantizedTensor holds a validated shape: \(error)")
        }
    }
}
