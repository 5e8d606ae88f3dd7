/// The finish time of a persistent kernel whose tiles are handed out in order to whichever SM frees first
/// (an atomic tile counter). Tiles come as runs of equal cost, e.g. one run per expert.
///
/// With equal costs this is ⌈tiles / workers⌉ × cost, the wave count; with per-expert reduction lengths
/// (weight-gradient GEMMs) it also shows the tail a hot expert leaves.
func persistentMakespan(runs: [(count: Int, cost: Double)], workers: Int) -> Double {
    precondition(workers > 0, "a scheduler needs at least one worker")
    var heap = MinHeap(count: workers)
    for run in runs where run.count > 0 {
        var left = run.count
        // Whole waves of equal tiles keep the SMs' order, so they can be added in one step.
        let wholeWaves = left / workers
        if wholeWaves > 0 {
            heap.addToAll(Double(wholeWaves) * run.cost)
            left -= wholeWaves * workers
        }
        for _ in 0..<left { heap.addToMin(run.cost) }
    }
    return heap.max
}

/// SM busy times as a binary min-heap.
private struct MinHeap {
    private var items: [Double]

    init(count: Int) { items = Array(repeating: 0, count: count) }

    var max: Double { items.max() ?? 0 }

    mutating func addToAll(_ value: Double) {
        for i in items.indices { items[i] += value }
    }

    mutating func addToMin(_ value: Double) {
        items[0] += value
        var i = 0
        while true {
            let left = 2 * i + 1, right = left + 1
            var smallest = i
            if left < items.count, items[left] < items[smallest] { smallest = left }
            if right < items.count, items[right] < items[smallest] { smallest = right }
            if smallest == i { return }
            items.swapAt(i, smallest)
            i = smallest
        }
    }
}
