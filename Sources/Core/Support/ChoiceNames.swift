/// The names of a fixed set of choices, for messages that say what a value may be.
extension RawRepresentable where RawValue == String, Self: CaseIterable {
    /// "a, b or c".
    public static var choices: String {
        let names = allCases.map(\.rawValue)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
    }
}
