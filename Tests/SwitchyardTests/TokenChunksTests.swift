import Testing
import Switchyard

/// How the GPU layer (and the performance model) size token chunks: Y, T·K·d bf16, exists one chunk at a time.
@Suite("Token chunks")
struct TokenChunksTests {
    @Test("by default the fewest equal chunks of at most 1.5 GiB of Y")
    func defaultBudget() {
        #expect(TokenChunks.defaultYBytes == 3 << 29)
        // 30B-n256 (d 4096, K 16): a token's Y rows take 16·4096·2 = 131072 bytes, so 12288 tokens fill 1.5 GiB:
        // three chunks, of 10923, 10923 and 10922 tokens.
        #expect(TokenChunks.tokens(topK: 16, hidden: 4096, capacity: 32768) == 10923)
        // 30B-n512 (K 8): two chunks of 16384; 30B-n1024 (K 4): 32768 tokens, the whole batch, one chunk.
        #expect(TokenChunks.tokens(topK: 8, hidden: 4096, capacity: 32768) == 16384)
        #expect(TokenChunks.tokens(topK: 4, hidden: 4096, capacity: 32768) == 32768)
        // 7B-n256 (d 1536, K 8): 43690 tokens would fit; the batch of 24576 is one chunk.
        #expect(TokenChunks.tokens(topK: 8, hidden: 1536, capacity: 24576) == 24576)
        // One token past a chunk's worth: two chunks of half, not a full one and a remainder of one token.
        #expect(TokenChunks.tokens(topK: 16, hidden: 4096, capacity: 12289) == 6145)
        #expect(TokenChunks.tokens(topK: 16, hidden: 4096, capacity: 12288) == 12288)
    }

    @Test("a requested chunk is clamped to 1 ... capacity, and an empty pass still has one token of room")
    func requested() {
        #expect(TokenChunks.tokens(topK: 2, hidden: 64, capacity: 1000, requested: 300) == 300)
        #expect(TokenChunks.tokens(topK: 2, hidden: 64, capacity: 1000, requested: 5000) == 1000)
        #expect(TokenChunks.tokens(topK: 2, hidden: 64, capacity: 1000, requested: 0) == 1)
        #expect(TokenChunks.tokens(topK: 2, hidden: 64, capacity: 0) == 1)
    }
}
