/// Reads the values of a JSON document for `ConfigurationFile`, collecting a problem for each one it
/// cannot use instead of stopping at the first: every read returns `nil` after reporting, and the caller
/// carries on with the next key.
struct ConfigurationReader {
    private(set) var problems: [ConfigurationProblem] = []

    mutating func report(_ path: JSONPath, _ reason: String) {
        problems.append(ConfigurationProblem(path: path.description, reason: reason))
    }

    /// The members of the object `value`, by key, each with its path; reports a value that is not an object,
    /// every key not in `known` (with the known key it most likely meant), and every key given twice (the
    /// first is kept, so that a problem in a later one is still reported).
    mutating func object(_ value: JSONValue, at path: JSONPath, known: [String]) -> [String: (JSONValue, JSONPath)]? {
        guard case .object(let members) = value else {
            report(path, "must be an object with the keys \(known.map { "'\($0)'" }.joined(separator: ", ")), not \(value.kindDescription)")
            return nil
        }
        var found: [String: (JSONValue, JSONPath)] = [:]
        for member in members {
            guard known.contains(member.key) else {
                let suggestion = Self.likelyMeant(member.key, among: known).map { " (did you mean '\($0)'?)" } ?? ""
                report(path, "unknown key \(RuleSyntaxError.quoted(member.key))\(suggestion)")
                continue
            }
            guard found[member.key] == nil else {
                report(path.appending(member.key), "given more than once")
                continue
            }
            found[member.key] = (member.value, path.appending(member.key))
        }
        return found
    }

    /// The members of an object whose keys are names of the document's choosing (user names), in order;
    /// reports a value that is not an object and every name given twice.
    mutating func namedMembers(_ value: JSONValue, at path: JSONPath, expected: String) -> [(String, JSONValue, JSONPath)]? {
        guard case .object(let members) = value else {
            report(path, "must be \(expected), not \(value.kindDescription)")
            return nil
        }
        var seen: Set<String> = []
        var result: [(String, JSONValue, JSONPath)] = []
        for member in members {
            guard seen.insert(member.key).inserted else {
                report(path.appending(member.key), "given more than once")
                continue
            }
            result.append((member.key, member.value, path.appending(member.key)))
        }
        return result
    }

    /// The elements of the array `value`, each with its path.
    mutating func array(_ value: JSONValue, at path: JSONPath, of expected: String) -> [(JSONValue, JSONPath)]? {
        guard case .array(let elements) = value else {
            report(path, "must be an array of \(expected), not \(value.kindDescription)")
            return nil
        }
        return elements.enumerated().map { ($0.element, path.appending(index: $0.offset)) }
    }

    /// A string; an empty one is refused.
    mutating func string(_ value: JSONValue, at path: JSONPath, _ expected: String = "a string") -> String? {
        guard case .string(let text) = value else {
            report(path, "must be \(expected), not \(value.kindDescription)")
            return nil
        }
        guard !text.isEmpty else {
            report(path, "must not be empty (leave the key out instead)")
            return nil
        }
        return text
    }

    /// A string read by `parse`, whose error describes itself (the value parsers of the command line's
    /// flags: `HostAndPort`, `IPNetwork`, `DestinationRule`, `SessionRate`).
    mutating func parsed<Value, Failure: Error>(
        _ value: JSONValue, at path: JSONPath, _ expected: String, _ parse: (String) throws(Failure) -> Value
    ) -> Value? {
        guard let text = string(value, at: path, expected) else { return nil }
        do {
            return try parse(text)
        } catch {
            report(path, "\(error)")
            return nil
        }
    }

    mutating func bool(_ value: JSONValue, at path: JSONPath) -> Bool? {
        guard case .bool(let flag) = value else {
            report(path, "must be true or false, not \(value.kindDescription)")
            return nil
        }
        return flag
    }

    /// A whole number within `range`, written without a fraction or an exponent.
    mutating func integer(_ value: JSONValue, at path: JSONPath, in range: ClosedRange<Int>, unit: String = "") -> Int? {
        let expected = "a whole number\(unit) from \(range.lowerBound) to \(range.upperBound)"
        guard case .number(let text) = value else {
            report(path, "must be \(expected), not \(value.kindDescription)")
            return nil
        }
        guard let number = Int(text), range.contains(number) else {
            report(path, "must be \(expected), not \(text.count > 40 ? String(text.prefix(40)) + "…" : text)")
            return nil
        }
        return number
    }

    /// A number of seconds, fractions allowed, as `ConfigurationFile.duration(seconds:)` accepts it.
    mutating func seconds(_ value: JSONValue, at path: JSONPath) -> Duration? {
        let expected = "a number of seconds from 0.001 to \(Int(ConfigurationFile.secondsRange.upperBound))"
        guard case .number(let text) = value else {
            report(path, "must be \(expected), not \(value.kindDescription)")
            return nil
        }
        guard let seconds = Double(text), let duration = ConfigurationFile.duration(seconds: seconds) else {
            report(path, "must be \(expected), not \(text.count > 40 ? String(text.prefix(40)) + "…" : text)")
            return nil
        }
        return duration
    }

    /// The key of `known` that `key` most likely misspells: the same but for case, the start of it
    /// (`password` for `passwordFile`), or at most two edits away (one for short keys); `nil` when none is
    /// that close.
    static func likelyMeant(_ key: String, among known: [String]) -> String? {
        let lowered = key.lowercased()
        if let sameButCase = known.first(where: { $0.lowercased() == lowered }) { return sameButCase }
        if lowered.count >= 4, let longer = known.first(where: { $0.lowercased().hasPrefix(lowered) }) { return longer }
        // Longer keys are not typos of the short names here, and would cost a long comparison each.
        guard key.unicodeScalars.count <= 40 else { return nil }
        let scored = known.map { (key: $0, distance: editDistance(Array(key.lowercased().unicodeScalars), Array($0.lowercased().unicodeScalars))) }
        guard let best = scored.min(by: { $0.distance < $1.distance }) else { return nil }
        let allowed = best.key.count <= 4 ? 1 : 2
        return best.distance <= allowed ? best.key : nil
    }

    /// Levenshtein distance: insertions, deletions and substitutions.
    private static func editDistance(_ lhs: [Unicode.Scalar], _ rhs: [Unicode.Scalar]) -> Int {
        var previous = Array(0...rhs.count)
        for (row, left) in lhs.enumerated() {
            var current = [row + 1] + Array(repeating: 0, count: rhs.count)
            for (column, right) in rhs.enumerated() {
                current[column + 1] = min(previous[column + 1] + 1, current[column] + 1, previous[column] + (left == right ? 0 : 1))
            }
            previous = current
        }
        return previous[rhs.count]
    }
}
