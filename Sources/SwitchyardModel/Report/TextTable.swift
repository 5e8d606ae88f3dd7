/// A plain-text table with aligned columns, for terminal reports.
///
/// ```swift
/// var table = TextTable(["kernel", "time"], rightAligned: [1])
/// table.append(["up-proj", "512.0 µs"])
/// print(table.render())
/// ```
public struct TextTable: Sendable {
    public var header: [String]
    public var rows: [[String]] = []
    /// Column indices aligned to the right (numbers).
    public var rightAligned: Set<Int>
    /// Row indices after which a rule is drawn.
    private var rulesAfter: Set<Int> = []

    public init(_ header: [String], rightAligned: Set<Int> = []) {
        self.header = header
        self.rightAligned = rightAligned
    }

    public mutating func append(_ row: [String]) {
        precondition(row.count == header.count, "a row needs one cell per column")
        rows.append(row)
    }

    /// Draws a rule under the last appended row.
    public mutating func appendRule() { rulesAfter.insert(rows.count - 1) }

    public func render() -> String {
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        var lines = [line(header), rule]
        for (index, row) in rows.enumerated() {
            lines.append(line(row))
            if rulesAfter.contains(index) { lines.append(rule) }
        }
        return lines.map { String($0.reversed().drop(while: { $0 == " " }).reversed()) }.joined(separator: "\n")
    }
}

/// Number formatting shared by the reports.
public enum Units {
    /// "812.4 µs", "3.21 ms", "1.20 s".
    public static func seconds(_ value: Double) -> String {
        if value < 1e-3 { return fixed(value * 1e6, 1) + " µs" }
        if value < 1 { return fixed(value * 1e3, 3) + " ms" }
        return fixed(value, 2) + " s"
    }

    /// Decimal bytes: "604.0 MB", "1.21 GB", with GiB for memory figures.
    public static func bytes(_ value: Double) -> String {
        if value < 1e6 { return fixed(value / 1e3, 1) + " kB" }
        if value < 1e9 { return fixed(value / 1e6, 1) + " MB" }
        return fixed(value / 1e9, 2) + " GB"
    }

    public static func gibibytes(_ value: Double) -> String {
        fixed(value / 1_073_741_824, 2) + " GiB"
    }

    /// "309.2 G" for 3.092e11.
    public static func flops(_ value: Double) -> String {
        value == 0 ? "-" : fixed(value / 1e9, 1) + " G"
    }

    /// Rounds to `digits` decimals without Foundation's String(format:).
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        let sign = value < 0 && scaled > 0 ? "-" : ""
        guard digits > 0 else { return sign + "\(whole)" }
        let digitsText = String(fraction)
        return sign + "\(whole)." + String(repeating: "0", count: digits - digitsText.count) + digitsText
    }
}
