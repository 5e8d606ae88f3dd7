import Foundation
import Testing
import Switchyard

/// How the GPU layer (and the performance model) size column chunks: Y, T·K·d bf16, exists one chunk of d at a time.
@Suite("Column chunks")
struct ColumnChunksTests {
    @Test("by default the fewest chunks of at most 1 GiB of Y, in whole 256-column granules")
    func defaultBudget() {
        #expect(ColumnChunks.defaultYBytes == 1 << 30)
        // 30B-n256 (T 32768, K 16): a column of Y takes 32768·16·2 = 1 MiB, so 1024 columns fill 1 GiB: four chunks.
        #expect(ColumnChunks.columns(topK: 16, hidden: 4096, capacity: 32768) == 1024)
        // 30B-n512 (K 8): two chunks of 2048; 30B-n1024 (K 4): the whole of d, one chunk.
        #expect(ColumnChunks.columns(topK: 8, hidden: 4096, capacity: 32768) == 2048)
        #expect(ColumnChunks.columns(topK: 4, hidden: 4096, capacity: 32768) == 4096)
        // 7B-n256 (d 1536, T 24576, K 8): 2560 columns would fit; one chunk.
        #expect(ColumnChunks.columns(topK: 8, hidden: 1536, capacity: 24576) == 1536)
        // 1536 columns fit (21845 tokens, K 16): three chunks, as equal as granules allow: 1536, 1536, 1024.
        let width = ColumnChunks.columns(topK: 16, hidden: 4096, capacity: 21845)
        #expect(width == 1536)
        #expect(ColumnChunks.ranges(hidden: 4096, columns: width) == [0..<1536, 1536..<3072, 3072..<4096])
        // Not even one granule fits: chunks of one granule (64 columns when d is not a multiple of 128).
        #expect(ColumnChunks.columns(topK: 8, hidden: 192, capacity: 10_000_000) == 64)
        #expect(ColumnChunks.granule(hidden: 192) == 64)
        #expect(ColumnChunks.granule(hidden: 384) == 128)
        #expect(ColumnChunks.granule(hidden: 1536) == 256)
    }

    @Test("a requested width is rounded up to a multiple of 64 and clamped to 64 ... d")
    func requested() {
        #expect(ColumnChunks.columns(topK: 2, hidden: 512, capacity: 1000, requested: 100) == 128)
        #expect(ColumnChunks.columns(topK: 2, hidden: 512, capacity: 1000, requested: 5000) == 512)
        #expect(ColumnChunks.columns(topK: 2, hidden: 512, capacity: 1000, requested: 0) == 64)
        #expect(ColumnChunks.columns(topK: 2, hidden: 64, capacity: 0) == 64)
        #expect(ColumnChunks.ranges(hidden: 320, columns: 128) == [0..<128, 128..<256, 256..<320])
    }

    /// What the GPU workspace allocated in measured runs (bench's JSON: activationGiB = bytes / 2³⁰, with the chunk
    /// width it ran), against the layout's total: the H100 sweep of abaf0e3 (12 shapes, default chunks) and 7B-n256
    /// in chunks of 512.
    @Test("the forward workspace layout reproduces the GPU runs' activation memory to the byte")
    func layoutMatchesMeasuredRuns() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
        let folder = "bench/results/2026-12-05-H100-abaf0e3"
        var checked = 0
        for file in ["sweep/switchyard-fp32.json", "ab/7b-cc512.json"] {
            let data = try Data(contentsOf: root.appendingPathComponent("\(folder)/\(file)"))
            let rows = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
            for row in rows {
                let int = { (key: String) throws -> Int in try #require(row[key] as? Int, "\(key) in \(file)") }
                let layout = ForwardWorkspaceLayout(
                    hidden: try int("hidden"), intermediate: try int("intermediate"), experts: try int("experts"),
                    topK: try int("topK"), capacity: try int("tokens"), chunkColumns: try int("chunkColumns"))
                let measured = try #require(row["activationGiB"] as? Double) * Double(1 << 30)
                #expect(Double(layout.total) == measured.rounded(), "\(row["config"] ?? "?") in \(file)")
                checked += 1
            }
        }
        #expect(checked == 13)
    }

    @Test("a forward that keeps no A: the layout drops exactly A's rows·n bf16; 1.4B-n256 then fits SonicMoE's 0.57 GiB")
    func layoutWithoutActivation() {
        let kept = ForwardWorkspaceLayout(hidden: 768, intermediate: 256, experts: 128, topK: 8, capacity: 40960,
                                          chunkColumns: 256)
        let dropped = ForwardWorkspaceLayout(hidden: 768, intermediate: 256, experts: 128, topK: 8, capacity: 40960,
                                             chunkColumns: 256, keepsActivation: false)
        #expect(kept.total - dropped.total == 40960 * 8 * 256 * 2 - 1)  // (an empty buffer is allocated as 1 byte)
        #expect(Double(dropped.total) < 0.57 * Double(1 << 30))
        #expect(Double(kept.total) > 0.57 * Double(1 << 30))
    }

    @Test("an activation budget: the widest equal chunks that fit, and a clear error below the least")
    func activationBudget() throws {
        let gib = 1 << 30
        // 7B-n256 (T 24576): 0.93 GiB in one chunk; under SonicMoE's 0.61 GiB the budget picks three chunks of 512.
        func bytes(_ columns: Int) -> Int {
            ForwardWorkspaceLayout(hidden: 1536, intermediate: 256, experts: 128, topK: 8, capacity: 24576,
                                   chunkColumns: columns).total
        }
        #expect(try ColumnChunks.columns(hidden: 1536, intermediate: 256, experts: 128, topK: 8, capacity: 24576,
                                         activationBudget: gib) == 1536)
        let fit = try ColumnChunks.columns(hidden: 1536, intermediate: 256, experts: 128, topK: 8, capacity: 24576,
                                           activationBudget: Int(0.61 * Double(gib)))
        // In whole granules of 256: 512 fits (0.556 GiB), 768 (0.650) does not.
        #expect(bytes(512) <= Int(0.61 * Double(gib)) && bytes(768) > Int(0.61 * Double(gib)))
        #expect(fit == 512)
        // Every budget between the least and the whole: the pick fits, in whole granules (or 64-column steps below
        // one), in as many chunks as the widest fitting width gives.
        for budget in stride(from: bytes(64), through: bytes(1536), by: 37 << 20) {
            let columns = try ColumnChunks.columns(hidden: 1536, intermediate: 256, experts: 128, topK: 8,
                                                   capacity: 24576, activationBudget: budget)
            #expect(bytes(columns) <= budget)
            #expect(columns % 256 == 0 || (columns < 256 && columns % 64 == 0), "\(columns)")
            let candidates = [1536, 1280, 1024, 768, 512, 256, 192, 128, 64]
            let widest = candidates.first { bytes($0) <= budget }!
            #expect((1536 + columns - 1) / columns == (1536 + widest - 1) / widest)
        }
        // 1.4B-n256 (T 40960): H, A, O and the routing buffers alone are over SonicMoE's 0.57 GiB.
        #expect(throws: SwitchyardError.self) {
            try ColumnChunks.columns(hidden: 768, intermediate: 256, experts: 128, topK: 8, capacity: 40960,
                                     activationBudget: Int(0.57 * Double(gib)))
        }
        do {
            _ = try ColumnChunks.columns(hidden: 768, intermediate: 256, experts: 128, topK: 8, capacity: 40960,
                                         activationBudget: gib / 4)
            Issue.record("a quarter GiB cannot hold 1.4B-n256's forward")
        } catch let error as SwitchyardError {
            #expect("\(error)".contains("0.250 GiB is below the 0.595 GiB"), "\(error)")
        }
    }

    @Test("a budget plan keeps A in whole granules first, then drops A, then narrows the chunks below a granule")
    func budgetPlanWithoutA() throws {
        let gib = Double(1 << 30)
        func plan(_ budget: Double, free: Bool = true) throws -> ColumnChunks.BudgetPlan {
            try ColumnChunks.plan(hidden: 768, intermediate: 256, experts: 128, topK: 8, capacity: 40960,
                                  activationBudget: Int(budget * gib), activationFree: free)
        }
        // 1.4B-n256 under SonicMoE's 0.57 GiB: only without A, in chunks of 256 (0.556 GiB).
        let sonic = try plan(0.57)
        #expect(sonic == ColumnChunks.BudgetPlan(
            columns: 256, keepsActivation: false,
            bytes: ForwardWorkspaceLayout(hidden: 768, intermediate: 256, experts: 128, topK: 8, capacity: 40960,
                                          chunkColumns: 256, keepsActivation: false).total))
        #expect(Double(sonic.bytes) <= 0.57 * gib)
        // 0.75 GiB: A kept, in chunks of 256 (0.71 GiB), before any chunk without A.
        #expect(try plan(0.75).keepsActivation && plan(0.75).columns == 256)
        // 0.60 GiB: without A in 256 rather than A kept in 64 (0.595 GiB, whose narrow GEMMs are slowest).
        #expect(try plan(0.60) == ColumnChunks.BudgetPlan(columns: 256, keepsActivation: false, bytes: sonic.bytes))
        #expect(try plan(0.60, free: false).columns == 64)
        // Below the least without A: the error names it.
        do {
            _ = try plan(0.5)
            Issue.record("0.5 GiB cannot hold 1.4B-n256's forward")
        } catch let error as SwitchyardError {
            #expect("\(error)".contains("0.500 GiB is below the 0.556 GiB this shape needs without A"), "\(error)")
        }
        // More than 256 experts: no A-free plan.
        #expect(try ColumnChunks.plan(hidden: 768, intermediate: 256, experts: 512, topK: 8, capacity: 40960,
                                      activationBudget: 1 << 30, activationFree: true).keepsActivation)
    }
}
