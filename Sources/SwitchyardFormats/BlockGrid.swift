/// The geometry of a shape cut into blocks: a batch of `rows`×`columns` matrices, each tiled into
/// `blockRows`×`blockColumns` blocks (the last ones partial). Validates the shape once, for every caller.
struct BlockGrid {
    let batch: Int
    let rows: Int
    let columns: Int
    let blockRows: Int
    let blockColumns: Int
    let rowBlocks: Int
    let columnBlocks: Int
    /// The shape of the scale tensor: the shape with its last two axes (or its one axis) counted in blocks.
    let scaleShape: [Int]

    let elementCount: Int
    var blockCount: Int { batch * rowBlocks * columnBlocks }

    init(shape: [Int], layout: BlockLayout) throws(FormatError) {
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 0 }) else {
            throw FormatError(.shapeMismatch, "shape \(shape) is not allowed: give one or more axes, each of size ≥ 0")
        }
        blockRows = layout.blockRows
        blockColumns = layout.blockColumns
        guard blockRows >= 1, blockColumns >= 1 else {
            throw FormatError(
                .invalidLayout, "block \(blockRows)×\(blockColumns) is not allowed: rows and columns must be ≥ 1")
        }
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw FormatError(.shapeMismatch, "shape \(shape) has more elements than Int can count")
            }
            count = product
        }
        if layout.blockRows > 1, shape.count < 2 {
            throw FormatError(
                .invalidLayout,
                "a \(layout.blockRows)×\(layout.blockColumns) block needs a shape of rank ≥ 2, got \(shape); use a 1×N block for rank 1")
        }
        elementCount = count
        columns = shape[shape.count - 1]
        rows = shape.count >= 2 ? shape[shape.count - 2] : 1
        batch = shape.dropLast(2).reduce(1, *)
        rowBlocks = (rows + blockRows - 1) / blockRows
        columnBlocks = (columns + blockColumns - 1) / blockColumns
        scaleShape = shape.count >= 2
            ? shape.dropLast(2) + [rowBlocks, columnBlocks]
            : [columnBlocks]
    }

    /// Calls `body(block, rowRange, columnRange)` for every block, `block` being its index in the scales;
    /// the ranges index the flat element array (row r of batch b starts at (b·rows + r)·columns).
    func forEachBlock(_ body: (Int, Range<Int>, Range<Int>) throws -> Void) rethrows {
        var block = 0
        for matrix in 0..<batch {
            for rowBlock in 0..<rowBlocks {
                let firstRow = matrix * rows + rowBlock * blockRows
                let rowRange = firstRow..<(firstRow + min(blockRows, rows - rowBlock * blockRows))
                for columnBlock in 0..<columnBlocks {
                    let firstColumn = columnBlock * blockColumns
                    try body(block, rowRange, firstColumn..<min(firstColumn + blockColumns, columns))
                    block += 1
                }
            }
        }
    }
}
