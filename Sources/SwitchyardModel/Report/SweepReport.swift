#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CSV and SVG renderings of a sparsity sweep.
public enum SweepReport {
    /// One header line, then one line per point.
    public static func csv(_ points: [SweepPoint]) -> String {
        var lines = [
            "tokens,hidden,intermediate,experts,top_k,granularity,activation_ratio,forward_ms,backward_ms,"
                + "forward_tflops,backward_tflops,total_tflops,cached_gib,peak_gib",
        ]
        for p in points {
            let fields = [
                "\(p.tokens)", "\(p.hidden)", "\(p.intermediate)", "\(p.experts)", "\(p.topK)",
                Units.fixed(p.granularity, 3), Units.fixed(p.activationRatio, 5),
                Units.fixed(p.forwardSeconds * 1e3, 4), Units.fixed(p.backwardSeconds * 1e3, 4),
                Units.fixed(p.forwardTFLOPS, 1), Units.fixed(p.backwardTFLOPS, 1), Units.fixed(p.totalTFLOPS, 1),
                Units.fixed(p.cachedActivationBytes / 1_073_741_824, 4), Units.fixed(p.peakActivationBytes / 1_073_741_824, 4),
            ]
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Two panels over granularity d/n (log scale), one line per activation ratio K/E: predicted forward+backward
    /// TFLOP/s, and peak activation memory.
    public static func svg(_ points: [SweepPoint], title: String) -> String {
        let ratios = Array(Set(points.map(\.activationRatio))).sorted(by: >)
        let series = ratios.map { ratio in
            points.filter { $0.activationRatio == ratio }.sorted { $0.granularity < $1.granularity }
        }
        let width = 1000.0, height = 460.0
        var svg = SVGCanvas(width: width, height: height)
        svg.text(width / 2, 24, title, size: 15, anchor: "middle", bold: true)
        let panels: [(String, (SweepPoint) -> Double)] = [
            ("predicted forward+backward TFLOP/s", \.totalTFLOPS),
            ("peak activation memory (GiB)", { $0.peakActivationBytes / 1_073_741_824 }),
        ]
        for (index, panel) in panels.enumerated() {
            let frame = Frame(x: 70 + Double(index) * 470, y: 50, width: 380, height: 320)
            drawPanel(&svg, frame: frame, label: panel.0, series: series, value: panel.1)
        }
        for (index, ratio) in ratios.enumerated() {
            let x = 70 + Double(index) * 140, y = 430.0
            svg.line(x, y, x + 24, y, color: palette[index % palette.count], width: 2.5)
            svg.text(x + 30, y + 4, "K/E = 1/\(Int((1 / ratio).rounded()))", size: 12)
        }
        return svg.render()
    }

    private static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    private struct Frame {
        var x, y, width, height: Double
    }

    private static func drawPanel(
        _ svg: inout SVGCanvas, frame: Frame, label: String, series: [[SweepPoint]], value: (SweepPoint) -> Double
    ) {
        let all = series.flatMap { $0 }
        let xs = Array(Set(all.map(\.granularity))).sorted()
        guard let minX = xs.first, let maxX = xs.last else { return }
        let yMax = niceCeiling(all.map(value).max() ?? 1)
        let span = max(log2(maxX) - log2(minX), 1)
        func px(_ g: Double) -> Double { frame.x + (log2(g) - log2(minX)) / span * frame.width }
        func py(_ v: Double) -> Double { frame.y + frame.height - v / yMax * frame.height }
        svg.rect(frame.x, frame.y, frame.width, frame.height)
        for step in 0...4 {
            let v = yMax * Double(step) / 4
            svg.line(frame.x, py(v), frame.x + frame.width, py(v), color: "#dddddd", width: 1)
            svg.text(frame.x - 6, py(v) + 4, Units.fixed(v, v < 10 ? 1 : 0), size: 11, anchor: "end")
        }
        for g in xs {
            svg.text(px(g), frame.y + frame.height + 16, g < 1 ? Units.fixed(g, 2) : "\(Int(g))", size: 11, anchor: "middle")
        }
        svg.text(frame.x + frame.width / 2, frame.y + frame.height + 34, "granularity d/n", size: 12, anchor: "middle")
        svg.text(frame.x, frame.y - 8, label, size: 13)
        for (index, points) in series.enumerated() {
            let coordinates = points.map { (px($0.granularity), py(value($0))) }
            svg.polyline(coordinates, color: palette[index % palette.count])
        }
    }

    /// The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × a power of ten at or above `value`
    /// (every one splits into four readable ticks).
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let power = pow(10, floor(log10(value)))
        for step in [1.0, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10] where step * power >= value { return step * power }
        return 10 * power
    }
}

/// A minimal SVG writer: lines, rectangles, polylines and text.
struct SVGCanvas {
    private var elements: [String] = []
    let width: Double, height: Double

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, color: String, width: Double) {
        elements.append(
            "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" stroke=\"\(color)\" stroke-width=\"\(f(width))\"/>")
    }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double) {
        elements.append("<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(w))\" height=\"\(f(h))\" fill=\"none\" stroke=\"#444444\"/>")
    }

    mutating func polyline(_ points: [(Double, Double)], color: String) {
        let list = points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " ")
        elements.append("<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2.5\"/>")
        for (x, y) in points {
            elements.append("<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"3\" fill=\"\(color)\"/>")
        }
    }

    mutating func text(_ x: Double, _ y: Double, _ content: String, size: Double, anchor: String = "start", bold: Bool = false) {
        let escaped = content.reduce(into: "") { result, character in
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            default: result.append(character)
            }
        }
        elements.append(
            "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(f(size))\" text-anchor=\"\(anchor)\""
                + "\(bold ? " font-weight=\"bold\"" : "") font-family=\"sans-serif\">\(escaped)</text>")
    }

    func render() -> String {
        (["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" "
            + "viewBox=\"0 0 \(f(width)) \(f(height))\">",
          "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"] + elements + ["</svg>"]).joined(separator: "\n") + "\n"
    }

    private func f(_ value: Double) -> String { Units.fixed(value, 1) }
}
