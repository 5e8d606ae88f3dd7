/// A read-only matrix over raw memory: element (r, c) lives at
/// `base[row(r) · rowStride + column(c) · columnStride]`, where `row` and `column` are the identity or a
/// gather through an index list. A transposed operand swaps the two axes, so one GEMM serves A·B, A·Bᵀ and
/// Aᵀ·B, with rows fetched by token index (no gathered copy of X in memory).
@usableFromInline
struct MatrixOperand<T>: @unchecked Sendable {
    @usableFromInline var base: UnsafePointer<T>
    @usableFromInline var rowStride: Int
    @usableFromInline var columnStride: Int
    /// Logical row r reads physical row `rowIndex[r]`.
    @usableFromInline var rowIndex: UnsafePointer<Int32>?
    /// Logical column c reads physical column `columnIndex[c]`.
    @usableFromInline var columnIndex: UnsafePointer<Int32>?

    /// A row-major matrix with `leading` elements between rows, optionally with gathered rows.
    @usableFromInline
    init(_ base: UnsafePointer<T>, leading: Int, rowIndex: UnsafePointer<Int32>? = nil) {
        self.base = base
        self.rowStride = leading
        self.columnStride = 1
        self.rowIndex = rowIndex
        self.columnIndex = nil
    }

    @usableFromInline
    var transposed: MatrixOperand {
        var t = self
        swap(&t.rowStride, &t.columnStride)
        swap(&t.rowIndex, &t.columnIndex)
        return t
    }

    @inlinable @inline(__always)
    func physicalRow(_ r: Int) -> Int { rowIndex.map { Int($0[r]) } ?? r }

    @inlinable @inline(__always)
    func physicalColumn(_ c: Int) -> Int { columnIndex.map { Int($0[c]) } ?? c }
}

/// One product C[m×n] = A[m×k]·B[k×n], C row-major with `ldc` elements between rows; C is overwritten.
@usableFromInline
struct GEMMProblem<T>: @unchecked Sendable {
    @usableFromInline var a: MatrixOperand<T>
    @usableFromInline var b: MatrixOperand<T>
    @usableFromInline var c: UnsafeMutablePointer<T>
    @usableFromInline var ldc: Int
    @usableFromInline var m: Int
    @usableFromInline var n: Int
    @usableFromInline var k: Int

    @usableFromInline
    init(a: MatrixOperand<T>, b: MatrixOperand<T>, c: UnsafeMutablePointer<T>, ldc: Int, m: Int, n: Int, k: Int) {
        self.a = a
        self.b = b
        self.c = c
        self.ldc = ldc
        self.m = m
        self.n = n
        self.k = k
    }
}
