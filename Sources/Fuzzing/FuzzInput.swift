/// A fuzzer's bytes read as a sequence of messages, each for one of a target's inputs
/// (a link, or the passing of time). The reading is total — any bytes give some sequence —
/// and `encode` writes the same layout, so seeds are real messages and mutations of their
/// bytes stay near them:
///
///     message = channel:u8, frameCount:u8 (1 + value % 8), frame × count
///     frame   = length:u16 little-endian (cut to what remains), bytes
public struct FuzzInput: Equatable, Sendable {
    public struct Message: Equatable, Sendable {
        /// Which of the target's inputs it goes to (each target reads it modulo its count).
        public var channel: UInt8
        public var frames: [[UInt8]]
        public init(channel: UInt8, frames: [[UInt8]]) { self.channel = channel; self.frames = frames }
    }

    public var messages: [Message]

    public init(_ messages: [Message]) { self.messages = messages }

    /// At most this many messages are read from one input, so one input stays quick.
    public static let maxMessages = 64

    public init(bytes: [UInt8]) {
        var messages: [Message] = []
        var offset = 0
        func next() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }
        while messages.count < Self.maxMessages, let channel = next(), let countByte = next() {
            var frames: [[UInt8]] = []
            for _ in 0..<(1 + Int(countByte) % 8) {
                let low = Int(next() ?? 0), high = Int(next() ?? 0)
                let length = min(low | high << 8, bytes.count - offset)
                frames.append(Array(bytes[offset..<(offset + length)]))
                offset += length
            }
            messages.append(Message(channel: channel, frames: frames))
        }
        self.messages = messages
    }

    /// The bytes that read back as these messages (frames of at most 65,535 bytes, one to
    /// eight a message: a training state with its routing id has six).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        for message in messages {
            precondition((1...8).contains(message.frames.count), "a fuzz message has one to eight frames")
            out += [message.channel, UInt8(message.frames.count - 1)]
            for frame in message.frames {
                precondition(frame.count <= 0xFFFF, "a fuzz frame holds at most 65,535 bytes")
                out += [UInt8(frame.count & 0xFF), UInt8(frame.count >> 8)] + frame
            }
        }
        return out
    }
}
