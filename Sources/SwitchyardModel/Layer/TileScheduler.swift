/// The finish time of a persistent kernel whose tiles are handed out in order to whichever SM frees first
/// (an atomic tile counter). Tiles come as runs of equal cost, e.g. one run per expert.
///
/// With equal costs this is ⌈tiles / workers⌉ × cost, the wave count; with per-expert reduction lengths
/// (weight-gradient GEMMs) it also shows the tail a hot expert leaves.
func persistentMakespan(runs: [(count: Int, cost: Double)], workers: Int) -> Double {
    precondition(workers > 0, "a scheduler needs at least one worker")
    // Consecutive runs of equal cost are one run: the same tiles in the same order.
    var merged: [(count: Int, cost: Double)] = []
    for run in runs where run.count > 0 {
        if let last = merged.last, last.cost == run.cost {
            merged[merged.count - 1].count += run.count
        } else {
            merged.append(run)
        }
    }
    var loads = SMLoads(count: workers)
    for run in merged {
        var left = run.count
        while left > 0 {
            // When all SMs are within one tile of each other, the next `workers` equal tiles go one to each SM:
            // whole waves can be added at once.
            if left >= workers, loads.spread <= run.cost {
                let waves = left / workers
                loads.addToAll(Double(waves) * run.cost)
                left -= waves * workers
            } else {
                for _ in 0..<min(left, workers) { loads.addToMin(run.cost) }
                left -= min(left, workers)
            }
        }
    }
    return loads.max
}

/// SM busy times as a binary min-heap.
private struct SMLoads {
    private var items: [Double]

    init(count: Int) { items = Array(repeating: 0, count: count) }

    var max: Double { items.max() ?? 0 }
    var spread: Double { max - items[0] }

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
