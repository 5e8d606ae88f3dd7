import Foundation
import Testing

/// The committed reference vectors of `scripts/gen_format_vectors.py` (numpy + ml_dtypes).
enum Vectors {
    struct Decode: Decodable {
        let e4m3fn: [UInt32]
        let e5m2: [UInt32]
        let e8m0: [UInt32]
    }

    /// Float32 bit patterns and their expected codes; -1 means "a NaN with the input's sign".
    struct EncodeCase: Decodable {
        let inputs: [UInt32]
        let codes: [Int]
    }

    struct Encode: Decodable {
        let bf16: EncodeCase
        let e4m3fn: EncodeCase
        let e5m2: EncodeCase
        let e8m0: EncodeCase
    }

    struct TensorInput: Decodable {
        let shape: [Int]
        let values: String
    }

    struct TensorCase: Decodable {
        let input: String
        let element: String
        let layout: String
        let codes: String
        let scales: String
    }

    struct Tensors: Decodable {
        let inputs: [String: TensorInput]
        let cases: [TensorCase]
    }

    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Vectors"))
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    /// Floats from a hex string of big-endian float32 bit patterns, 8 digits each.
    static func floats(hex: String) throws -> [Float] {
        try words(hex, digits: 8).map { Float(bitPattern: UInt32($0)) }
    }

    /// Bytes from a hex string, 2 digits each.
    static func bytes(hex: String) throws -> [UInt8] {
        try words(hex, digits: 2).map { UInt8($0) }
    }

    private static func words(_ hex: String, digits: Int) throws -> [UInt64] {
        let utf8 = Array(hex.utf8)
        try #require(utf8.count % digits == 0, "hex string of \(utf8.count) digits is not a multiple of \(digits)")
        return try stride(from: 0, to: utf8.count, by: digits).map { start in
            try #require(UInt64(String(decoding: utf8[start..<(start + digits)], as: UTF8.self), radix: 16))
        }
    }
}
