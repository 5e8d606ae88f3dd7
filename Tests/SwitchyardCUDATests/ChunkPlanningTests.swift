import Testing
import Switchyard
import SwitchyardCUDA

/// How the GPU layer sizes its token chunks (Y, T·K·d bf16, exists one chunk at a time). No GPU needed.
@Suite("GPU token chunks")
struct ChunkPlanningTests {
    func config(_ d: Int, _ n: Int, _ E: Int, _ K: Int) throws -> MoEConfig {
        try MoEConfig(hidden: d, intermediate: n, experts: E, topK: K)
    }

    @Test("by default a chunk holds at most 1 GiB of Y")
    func defaultBudget() throws {
        #expect(GPUWorkspace.defaultChunkBytes == 1 << 30)
        // 30B-n256 (d 4096, K 16): a token's Y rows take 16·4096·2 = 131072 bytes, so 8192 tokens fill 1 GiB.
        #expect(GPUWorkspace.chunkTokens(config: try config(4096, 256, 256, 16), capacity: 32768) == 8192)
        // 30B-n512 (K 8): 16384 tokens; 30B-n1024 (K 4): 32768 tokens, the whole batch, one chunk.
        #expect(GPUWorkspace.chunkTokens(config: try config(4096, 512, 128, 8), capacity: 32768) == 16384)
        #expect(GPUWorkspace.chunkTokens(config: try config(4096, 1024, 64, 4), capacity: 32768) == 32768)
        // 7B-n256 (d 1536, K 8): 43690 tokens would fit; the batch of 24576 is one chunk.
        #expect(GPUWorkspace.chunkTokens(config: try config(1536, 256, 128, 8), capacity: 24576) == 24576)
    }

    @Test("a requested chunk is clamped to 1 ... capacity, and an empty workspace still has one token of room")
    func requested() throws {
        let c = try config(64, 64, 8, 2)
        #expect(GPUWorkspace.chunkTokens(config: c, capacity: 1000, requested: 300) == 300)
        #expect(GPUWorkspace.chunkTokens(config: c, capacity: 1000, requested: 5000) == 1000)
        #expect(GPUWorkspace.chunkTokens(config: c, capacity: 1000, requested: 0) == 1)
        #expect(GPUWorkspace.chunkTokens(config: c, capacity: 0) == 1)
    }
}
