/// A protected message that could not be wrapped or unwrapped.
struct GSSAPIMessageError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
