/// Deterministic top-K: higher value first; on equal values the lower index wins.
@usableFromInline
enum TopKSelection {
    /// Whether candidate `i` ranks before candidate `j`.
    @inline(__always) @usableFromInline
    static func ranksBefore(_ i: Int, _ j: Int, in values: UnsafeBufferPointer<Double>) -> Bool {
        values[i] > values[j] || (values[i] == values[j] && i < j)
    }

    /// The best `count` indices among those `eligible`, best first, plus the next one (the first left out)
    /// when there is one. O(n·count), which suits E ≤ a few hundred.
    @usableFromInline
    static func select(
        _ count: Int, from values: UnsafeBufferPointer<Double>, eligible: (Int) -> Bool = { _ in true }
    ) -> (chosen: [Int], runnerUp: Int?) {
        var best: [Int] = []
        best.reserveCapacity(count + 1)
        for i in values.indices where eligible(i) {
            var position = best.count
            while position > 0 && ranksBefore(i, best[position - 1], in: values) { position -= 1 }
            if position <= count {
                best.insert(i, at: position)
                if best.count > count + 1 { best.removeLast() }
            }
        }
        let runnerUp = best.count > count ? best[count] : nil
        return (Array(best.prefix(count)), runnerUp)
    }
}
