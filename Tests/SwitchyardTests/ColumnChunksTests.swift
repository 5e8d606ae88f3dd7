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
}
