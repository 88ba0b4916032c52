/// Delegation `paths` patterns, matched as python-tuf does: both sides split on `/` with equal
/// segment counts, each segment a case-sensitive shell glob (fnmatch: `*`, `?`, `[…]`, `[!…]`).
public enum PathPattern {
    public static func matches(pattern: String, path: String) -> Bool {
        let patternParts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let pathParts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard patternParts.count == pathParts.count else { return false }
        for (p, s) in zip(patternParts, pathParts) where !glob(Array(p.unicodeScalars), Array(s.unicodeScalars)) {
            return false
        }
        return true
    }

    /// fnmatch over unicode scalars, iterative with backtracking to the last `*`.
    static func glob(_ p: [Unicode.Scalar], _ s: [Unicode.Scalar]) -> Bool {
        var pi = 0, si = 0
        var starP = -1, starS = 0
        while si < s.count {
            if pi < p.count {
                switch p[pi] {
                case "*":
                    starP = pi
                    starS = si
                    pi += 1
                    continue
                case "?":
                    pi += 1
                    si += 1
                    continue
                case "[":
                    if let (matched, next) = bracket(p, pi, s[si]) {
                        if matched {
                            pi = next
                            si += 1
                            continue
                        }
                    } else if p[pi] == s[si] {
                        // An unclosed `[` is a literal.
                        pi += 1
                        si += 1
                        continue
                    }
                default:
                    if p[pi] == s[si] {
                        pi += 1
                        si += 1
                        continue
                    }
                }
            }
            guard starP >= 0 else { return false }
            pi = starP + 1
            starS += 1
            si = starS
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    /// Matches `c` against the set starting at `p[start] == "["`; nil when the set is unclosed.
    static func bracket(_ p: [Unicode.Scalar], _ start: Int, _ c: Unicode.Scalar) -> (Bool, Int)? {
        var i = start + 1
        var negate = false
        if i < p.count, p[i] == "!" { negate = true; i += 1 }
        var matched = false
        var first = true
        while i < p.count {
            if p[i] == "]", !first { return (matched != negate, i + 1) }
            first = false
            if i + 2 < p.count, p[i + 1] == "-", p[i + 2] != "]" {
                if p[i].value <= c.value, c.value <= p[i + 2].value { matched = true }
                i += 3
            } else {
                if p[i] == c { matched = true }
                i += 1
            }
        }
        return nil
    }
}
