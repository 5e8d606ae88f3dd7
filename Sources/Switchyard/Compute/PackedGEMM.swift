import Synchronization

/// A blocked, packed, multithreaded GEMM over ``GEMMProblem``s (GotoBLAS layout: A packed in MR-row
/// panels, B in NR-column panels, a register-tiled micro-kernel of SIMD8 vectors).
///
/// Deterministic: a job owns whole output tiles and runs the reduction over k in fixed KC blocks, in order,
/// so every element of C has one summation order whatever the thread count or job schedule.
@usableFromInline
enum PackedGEMM {
    @usableFromInline static let mr = 6
    @usableFromInline static let nr = 8
    @usableFromInline static let kc = 256
    @usableFromInline static let mc = 96
    @usableFromInline static let nc = 512

    private struct Job {
        var problem: Int
        var row: Int
        var column: Int
    }

    /// Computes every problem's C = A·B on up to `threads` threads.
    @usableFromInline
    static func run<T: BinaryFloatingPoint & SIMDScalar>(_ problems: [GEMMProblem<T>], threads: Int) {
        var jobs: [Job] = []
        for (index, problem) in problems.enumerated() where problem.m > 0 && problem.n > 0 {
            if problem.k == 0 {
                for i in 0..<problem.m {
                    (problem.c + i * problem.ldc).update(repeating: 0, count: problem.n)
                }
                continue
            }
            for row in stride(from: 0, to: problem.m, by: mc) {
                for column in stride(from: 0, to: problem.n, by: nc) {
                    jobs.append(Job(problem: index, row: row, column: column))
                }
            }
        }
        guard !jobs.isEmpty else { return }
        let workers = min(max(threads, 1), jobs.count)
        let next = Atomic<Int>(0)
        jobs.withUnsafeBufferPointer { jobs in
            parallelWorkers(workers) { _ in
                let aPack = UnsafeMutablePointer<T>.allocateAligned(mc * kc)
                let bPack = UnsafeMutablePointer<T>.allocateAligned(kc * nc)
                defer {
                    aPack.deallocate()
                    bPack.deallocate()
                }
                while true {
                    let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard index < jobs.count else { break }
                    let job = jobs[index]
                    compute(problems[job.problem], row: job.row, column: job.column, aPack: aPack, bPack: bPack)
                }
            }
        }
    }

    /// One MC×NC block of C, reduced over all of k.
    @inline(__always)
    private static func compute<T: BinaryFloatingPoint & SIMDScalar>(
        _ problem: GEMMProblem<T>, row: Int, column: Int, aPack: UnsafeMutablePointer<T>,
        bPack: UnsafeMutablePointer<T>
    ) {
        let rows = min(mc, problem.m - row)
        let columns = min(nc, problem.n - column)
        for depth in stride(from: 0, to: problem.k, by: kc) {
            let kb = min(kc, problem.k - depth)
            packB(problem.b, depth: depth, kb: kb, column: column, columns: columns, into: bPack)
            packA(problem.a, row: row, rows: rows, depth: depth, kb: kb, into: aPack)
            for jp in 0..<(columns + nr - 1) / nr {
                let tileColumns = min(nr, columns - jp * nr)
                for ip in 0..<(rows + mr - 1) / mr {
                    let tileRows = min(mr, rows - ip * mr)
                    let c = problem.c + (row + ip * mr) * problem.ldc + column + jp * nr
                    microKernel(
                        kb, a: aPack + ip * mr * kb, b: bPack + jp * nr * kb, c: c, ldc: problem.ldc,
                        rows: tileRows, columns: tileColumns, accumulate: depth > 0)
                }
            }
        }
    }

    /// Packs A[row..<row+rows, depth..<depth+kb] as [panel][p][r], zero-padding the last panel.
    @inline(__always)
    private static func packA<T: BinaryFloatingPoint & SIMDScalar>(
        _ a: MatrixOperand<T>, row: Int, rows: Int, depth: Int, kb: Int, into pack: UnsafeMutablePointer<T>
    ) {
        let panels = (rows + mr - 1) / mr
        let contiguous = a.columnStride == 1 && a.columnIndex == nil
        for ip in 0..<panels {
            let dst = pack + ip * mr * kb
            for r in 0..<mr {
                let i = ip * mr + r
                guard i < rows else {
                    for p in 0..<kb { dst[p &* mr &+ r] = 0 }
                    continue
                }
                let source = a.base + a.physicalRow(row + i) * a.rowStride
                if contiguous {
                    let start = source + depth
                    for p in 0..<kb { dst[p &* mr &+ r] = start[p] }
                } else {
                    for p in 0..<kb { dst[p &* mr &+ r] = source[a.physicalColumn(depth + p) &* a.columnStride] }
                }
            }
        }
    }

    /// Packs B[depth..<depth+kb, column..<column+columns] as [panel][p][j], zero-padding the last panel.
    @inline(__always)
    private static func packB<T: BinaryFloatingPoint & SIMDScalar>(
        _ b: MatrixOperand<T>, depth: Int, kb: Int, column: Int, columns: Int, into pack: UnsafeMutablePointer<T>
    ) {
        let panels = (columns + nr - 1) / nr
        if b.columnStride == 1 && b.columnIndex == nil {
            for p in 0..<kb {
                let source = b.base + b.physicalRow(depth + p) * b.rowStride + column
                for jp in 0..<panels {
                    let dst = pack + jp * nr * kb + p * nr
                    let width = min(nr, columns - jp * nr)
                    dst.update(from: source + jp * nr, count: width)
                    if width < nr { (dst + width).update(repeating: 0, count: nr - width) }
                }
            }
        } else {
            let padded = panels * nr
            for j in 0..<padded {
                let dst = pack + (j / nr) * nr * kb + j % nr
                guard j < columns else {
                    for p in 0..<kb { dst[p &* nr] = 0 }
                    continue
                }
                let source = b.base + b.physicalColumn(column + j) * b.columnStride
                for p in 0..<kb { dst[p &* nr] = source[b.physicalRow(depth + p) &* b.rowStride] }
            }
        }
    }

    /// C[rows×columns] (+)= Apanel·Bpanel over kb, in a 6×8 register tile (12 SSE or 6 AVX registers of
    /// accumulators, so the baseline x86-64 build does not spill).
    @inline(__always)
    private static func microKernel<T: BinaryFloatingPoint & SIMDScalar>(
        _ kb: Int, a: UnsafePointer<T>, b: UnsafePointer<T>, c: UnsafeMutablePointer<T>, ldc: Int, rows: Int,
        columns: Int, accumulate: Bool
    ) {
        typealias V = SIMD8<T>
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
        let braw = UnsafeRawPointer(b)
        let stride = MemoryLayout<V>.stride
        var ap = a
        for p in 0..<kb {
            let bv = braw.load(fromByteOffset: p &* stride, as: V.self)
            c0 += V(repeating: ap[0]) * bv
            c1 += V(repeating: ap[1]) * bv
            c2 += V(repeating: ap[2]) * bv
            c3 += V(repeating: ap[3]) * bv
            c4 += V(repeating: ap[4]) * bv
            c5 += V(repeating: ap[5]) * bv
            ap += 6
        }
        let full = rows == mr && columns == nr
        store(c0, to: c, full: full, row: 0, rows: rows, columns: columns, accumulate: accumulate)
        store(c1, to: c + ldc, full: full, row: 1, rows: rows, columns: columns, accumulate: accumulate)
        store(c2, to: c + 2 * ldc, full: full, row: 2, rows: rows, columns: columns, accumulate: accumulate)
        store(c3, to: c + 3 * ldc, full: full, row: 3, rows: rows, columns: columns, accumulate: accumulate)
        store(c4, to: c + 4 * ldc, full: full, row: 4, rows: rows, columns: columns, accumulate: accumulate)
        store(c5, to: c + 5 * ldc, full: full, row: 5, rows: rows, columns: columns, accumulate: accumulate)
    }

    /// Writes (or adds) one row of the register tile, clipped to the valid rows and columns.
    @inline(__always)
    private static func store<T: BinaryFloatingPoint & SIMDScalar>(
        _ value: SIMD8<T>, to out: UnsafeMutablePointer<T>, full: Bool, row: Int, rows: Int, columns: Int,
        accumulate: Bool
    ) {
        if full {
            let raw = UnsafeMutableRawPointer(out)
            var value = value
            if accumulate { value += raw.loadUnaligned(as: SIMD8<T>.self) }
            raw.storeBytes(of: value, as: SIMD8<T>.self)
        } else if row < rows {
            for j in 0..<columns { out[j] = accumulate ? out[j] + value[j] : value[j] }
        }
    }
}

extension UnsafeMutablePointer {
    /// Uninitialized memory for `count` elements, aligned for 64-byte vector loads.
    @usableFromInline
    static func allocateAligned(_ count: Int) -> UnsafeMutablePointer<Pointee> {
        UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Pointee>.stride, alignment: 64)
            .bindMemory(to: Pointee.self, capacity: max(count, 1))
    }
}

/// Runs grouped GEMMs in the layer's scalar type: Float and Double take the packed SIMD kernel.
@usableFromInline
func groupedGEMM<S: BinaryFloatingPoint>(_ problems: [GEMMProblem<S>], threads: Int) {
    if S.self == Float.self {
        PackedGEMM.run(unsafeBitCast(problems, to: [GEMMProblem<Float>].self), threads: threads)
    } else if S.self == Double.self {
        PackedGEMM.run(unsafeBitCast(problems, to: [GEMMProblem<Double>].self), threads: threads)
    } else {
        preconditionFailure("the reference layer computes in Float or Double, not \(S.self)")
    }
}
