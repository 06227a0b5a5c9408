/// A line-based unified diff, for `zgen --check` and for readable golden-file mismatches.
public enum UnifiedDiff {
    /// The unified diff turning `old` into `new` (empty when equal), with `context` lines around changes.
    public static func diff(old: String, new: String, oldName: String, newName: String, context: Int = 3) -> String {
        guard old != new else { return "" }
        let a = splitLines(old), b = splitLines(new)
        let edits = editScript(a, b)
        // Group edits into hunks.
        var output = "--- \(oldName)\n+++ \(newName)\n"
        var index = 0
        while index < edits.count {
            guard let firstChange = edits[index...].firstIndex(where: { $0.kind != .same }) else { break }
            var start = max(index, firstChange - context)
            if start < index { start = index }
            var end = firstChange
            var lastChange = firstChange
            while end < edits.count {
                if edits[end].kind != .same {
                    lastChange = end
                } else if end - lastChange > 2 * context {
                    break
                }
                end += 1
            }
            end = min(edits.count, lastChange + context + 1)
            let hunk = edits[start..<end]
            let oldStart = hunk.first.map { $0.oldIndex } ?? 0
            let newStart = hunk.first.map { $0.newIndex } ?? 0
            let oldCount = hunk.filter { $0.kind != .insert }.count
            let newCount = hunk.filter { $0.kind != .delete }.count
            output += "@@ -\(oldCount == 0 ? oldStart : oldStart + 1),\(oldCount) +\(newCount == 0 ? newStart : newStart + 1),\(newCount) @@\n"
            for edit in hunk {
                switch edit.kind {
                case .same: output += " " + a[edit.oldIndex] + "\n"
                case .delete: output += "-" + a[edit.oldIndex] + "\n"
                case .insert: output += "+" + b[edit.newIndex] + "\n"
                }
            }
            index = end
        }
        return output
    }

    struct Edit {
        enum Kind { case same, delete, insert }
        var kind: Kind
        var oldIndex: Int
        var newIndex: Int
    }

    static func splitLines(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Common prefix and suffix trimmed, then a longest-common-subsequence table on the middle
    /// (or, if that would be too large, the middle replaced as a whole).
    static func editScript(_ a: [String], _ b: [String]) -> [Edit] {
        var prefix = 0
        while prefix < a.count, prefix < b.count, a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix, suffix < b.count - prefix, a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        var edits: [Edit] = (0..<prefix).map { Edit(kind: .same, oldIndex: $0, newIndex: $0) }
        let aMid = Array(a[prefix..<(a.count - suffix)]), bMid = Array(b[prefix..<(b.count - suffix)])
        let n = aMid.count, m = bMid.count
        if n * m <= 4_000_000 && n > 0 && m > 0 {
            var table = [Int32](repeating: 0, count: (n + 1) * (m + 1))
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    table[i * (m + 1) + j] =
                        aMid[i] == bMid[j] ? table[(i + 1) * (m + 1) + j + 1] + 1 : max(table[(i + 1) * (m + 1) + j], table[i * (m + 1) + j + 1])
                }
            }
            var i = 0, j = 0
            while i < n || j < m {
                if i < n, j < m, aMid[i] == bMid[j] {
                    edits.append(Edit(kind: .same, oldIndex: prefix + i, newIndex: prefix + j))
                    i += 1
                    j += 1
                } else if j < m, i == n || table[i * (m + 1) + j + 1] > table[(i + 1) * (m + 1) + j] {
                    edits.append(Edit(kind: .insert, oldIndex: prefix + i, newIndex: prefix + j))
                    j += 1
                } else {
                    edits.append(Edit(kind: .delete, oldIndex: prefix + i, newIndex: prefix + j))
                    i += 1
                }
            }
        } else {
            for i in 0..<n { edits.append(Edit(kind: .delete, oldIndex: prefix + i, newIndex: prefix)) }
            for j in 0..<m { edits.append(Edit(kind: .insert, oldIndex: prefix + n, newIndex: prefix + j)) }
        }
        for k in 0..<suffix {
            edits.append(Edit(kind: .same, oldIndex: a.count - suffix + k, newIndex: b.count - suffix + k))
        }
        return edits
    }
}
