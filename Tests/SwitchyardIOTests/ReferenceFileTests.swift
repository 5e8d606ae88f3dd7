import Switchyard
import SwitchyardIO
import Testing

/// A file written by the reference implementation (the `safetensors` Python package 0.8.0, numpy 2.4,
/// ml_dtypes for bf16/FP8), with the values numpy reports for each tensor. Produced by:
///
///     vals = np.array([0.0, 1.0, -2.5, 0.1, 3.14159, -448.0, 1e-3, 65504.0, 2**-24, -0.0])
///     tensors = {"f64": vals.reshape(2, 5), "f32": vals.astype(np.float32).reshape(5, 2),
///                "f16": vals.astype(np.float16), "bf16": vals.astype(ml_dtypes.bfloat16).reshape(10, 1),
///                "f8_e4m3": np.clip(vals, -448, 448).astype(ml_dtypes.float8_e4m3fn).reshape(2, 5),
///                "f8_e5m2": vals.astype(ml_dtypes.float8_e5m2).reshape(2, 5),
///                "i64": np.array([[-(2**40), 7], [0, 2**62]], dtype=np.int64),
///                "i32": np.array([-2**31, -1, 0, 2**31 - 1], dtype=np.int32),
///                "u8": np.array([0, 1, 128, 255], dtype=np.uint8).reshape(1, 4),
///                "empty": np.zeros((0, 3), dtype=np.float32)}
///     safetensors.numpy.save(tensors, metadata={"producer": "safetensors-python"}).hex()
enum ReferenceFile {
    static let hex = [
        "a0020000000000007b225f5f6d657461646174615f5f223a7b2270726f6475636572223a227361666574656e736f72732d707974686f6e22",
        "7d2c22693634223a7b226474797065223a22493634222c227368617065223a5b322c325d2c22646174615f6f666673657473223a5b302c33",
        "325d7d2c22663634223a7b226474797065223a22463634222c227368617065223a5b322c355d2c22646174615f6f666673657473223a5b33",
        "322c3131325d7d2c22656d707479223a7b226474797065223a22463332222c227368617065223a5b302c335d2c22646174615f6f66667365",
        "7473223a5b3131322c3131325d7d2c22663332223a7b226474797065223a22463332222c227368617065223a5b352c325d2c22646174615f",
        "6f666673657473223a5b3131322c3135325d7d2c22693332223a7b226474797065223a22493332222c227368617065223a5b345d2c226461",
        "74615f6f666673657473223a5b3135322c3136385d7d2c2262663136223a7b226474797065223a2242463136222c227368617065223a5b31",
        "302c315d2c22646174615f6f666673657473223a5b3136382c3138385d7d2c22663136223a7b226474797065223a22463136222c22736861",
        "7065223a5b31305d2c22646174615f6f666673657473223a5b3138382c3230385d7d2c2266385f65346d33223a7b226474797065223a2246",
        "385f45344d33222c227368617065223a5b322c355d2c22646174615f6f666673657473223a5b3230382c3231385d7d2c2266385f65356d32",
        "223a7b226474797065223a2246385f45354d32222c227368617065223a5b322c355d2c22646174615f6f666673657473223a5b3231382c32",
        "32385d7d2c227538223a7b226474797065223a225538222c227368617065223a5b312c345d2c22646174615f6f666673657473223a5b3232",
        "382c3233325d7d7d0000000000ffffff0700000000000000000000000000000000000000000000400000000000000000000000000000f03f",
        "00000000000004c09a9999999999b93f6e861bf0f92109400000000000007cc0fca9f1d24d62503f0000000000fcef40000000000000703e",
        "0000000000000080000000000000803f000020c0cdcccc3dd00f49400000e0c36f12833a00e07f47000080330000008000000080ffffffff",
        "00000000ffffff7f0000803f20c0cd3d4940e0c3833a8047803300800000003c00c1662e484200df1914ff7b010000800038c21d45fe017e",
        "0080003cc12e42df147c0080000180ff",
    ].joined()

    /// (name, shape, values as numpy's `astype(np.float64)` prints them).
    static let floatTensors: [(String, [Int], [Double])] = [
        ("f64", [2, 5], [0.0, 1.0, -2.5, 0.1, 3.14159, -448.0, 0.001, 65504.0, 5.960464477539063e-08, -0.0]),
        ("f32", [5, 2], [
            0.0, 1.0, -2.5, 0.10000000149011612, 3.141590118408203, -448.0, 0.0010000000474974513, 65504.0,
            5.960464477539063e-08, -0.0,
        ]),
        ("f16", [10], [
            0.0, 1.0, -2.5, 0.0999755859375, 3.140625, -448.0, 0.0010004043579101562, 65504.0, 5.960464477539063e-08,
            -0.0,
        ]),
        ("bf16", [10, 1], [
            0.0, 1.0, -2.5, 0.10009765625, 3.140625, -448.0, 0.00099945068359375, 65536.0, 5.960464477539063e-08, -0.0,
        ]),
        ("f8_e4m3", [2, 5], [0.0, 1.0, -2.5, 0.1015625, 3.25, -448.0, 0.001953125, 448.0, 0.0, -0.0]),
        ("f8_e5m2", [2, 5], [0.0, 1.0, -2.5, 0.09375, 3.0, -448.0, 0.0009765625, .infinity, 0.0, -0.0]),
        ("u8", [1, 4], [0, 1, 128, 255]),
        ("i32", [4], [-2147483648.0, -1.0, 0.0, 2147483647.0]),
        ("empty", [0, 3], []),
    ]

    static let integerTensors: [(String, [Int64])] = [
        ("i64", [-(1 << 40), 7, 0, 1 << 62]), ("i32", [-(1 << 31), -1, 0, (1 << 31) - 1]), ("u8", [0, 1, 128, 255]),
    ]
}

@Suite struct ReferenceFileTests {
    let file = try! SafetensorsFile(bytes: bytes(hex: ReferenceFile.hex), source: "reference")

    @Test func headerMatchesTheReferenceWriter() throws {
        #expect(file.metadata == ["producer": "safetensors-python"])
        #expect(Set(file.names) == ["f64", "f32", "f16", "bf16", "f8_e4m3", "f8_e5m2", "i64", "i32", "u8", "empty"])
        #expect(try file.info("f8_e4m3").dtype == .float8E4M3)
        #expect(try file.info("i64").shape == [2, 2])
    }

    @Test(arguments: ReferenceFile.floatTensors.map(\.0))
    func floatValuesMatchNumpy(name: String) throws {
        let (_, shape, expected) = try #require(ReferenceFile.floatTensors.first { $0.0 == name })
        let tensor = try file.tensor(name)
        #expect(tensor.shape == shape)
        // Every reference value is exactly a Float (f64's are rounded once, as Float(Double) does).
        #expect(tensor.scalars.map(\.bitPattern) == expected.map { Float($0).bitPattern })
    }

    @Test(arguments: ReferenceFile.integerTensors.map(\.0))
    func integerValuesAreExact(name: String) throws {
        let expected = try #require(ReferenceFile.integerTensors.first { $0.0 == name }).1
        #expect(try file.integers(name) == expected)
    }

    @Test func integersRefuseFloatTensors() {
        #expect(throws: SwitchyardError.self) { try file.integers("f32") }
    }
}
