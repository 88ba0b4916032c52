import CYAML

/// A YAML document as a tree, read and written with libyaml. Scalars keep their text, style and
/// explicit tag, so a file read and written again means the same to its next reader (`80` stays
/// a number, `"80"` a string). Aliases are expanded where they are used; comments are not kept.
indirect enum YAMLNode: Equatable {
    case scalar(YAMLScalar)
    case sequence([YAMLNode], tag: String?)
    case mapping(YAMLMapping, tag: String?)

    /// A string that reads back as a string whatever its text (`"never"`, `"true"`, `"80"`).
    init(_ string: String) { self = .scalar(YAMLScalar(string)) }

    init(_ mapping: YAMLMapping) { self = .mapping(mapping, tag: nil) }

    /// A scalar's text, nil for collections.
    var string: String? {
        if case let .scalar(scalar) = self { return scalar.value }
        return nil
    }

    var mapping: YAMLMapping? {
        if case let .mapping(mapping, _) = self { return mapping }
        return nil
    }

    subscript(key: String) -> YAMLNode? { mapping?[key] }
}

struct YAMLScalar: Equatable {
    enum Style: Equatable { case plain, singleQuoted, doubleQuoted, literal, folded }
    var value: String
    var style: Style
    /// As written (`!!str`, `!custom`, resolved to a full tag by libyaml); nil when implicit.
    var tag: String?

    init(_ value: String, style: Style = .doubleQuoted, tag: String? = nil) {
        self.value = value
        self.style = style
        self.tag = tag
    }
}

/// A mapping in its written order.
struct YAMLMapping: Equatable, Sequence {
    private(set) var pairs: [(key: YAMLNode, value: YAMLNode)] = []

    init(_ pairs: [(key: YAMLNode, value: YAMLNode)] = []) { self.pairs = pairs }

    var isEmpty: Bool { pairs.isEmpty }

    func makeIterator() -> IndexingIterator<[(key: YAMLNode, value: YAMLNode)]> { pairs.makeIterator() }

    /// The value of the first key whose scalar text is `key`. Setting nil removes the key;
    /// setting a new key appends it.
    subscript(key: String) -> YAMLNode? {
        get { pairs.first(where: { $0.key.string == key })?.value }
        set {
            let index = pairs.firstIndex(where: { $0.key.string == key })
            switch (index, newValue) {
            case let (index?, value?): pairs[index].value = value
            case let (index?, nil): pairs.remove(at: index)
            case let (nil, value?): pairs.append((YAMLNode(YAMLScalar(key, style: .plain)), value))
            case (nil, nil): break
            }
        }
    }

    static func == (lhs: YAMLMapping, rhs: YAMLMapping) -> Bool {
        lhs.pairs.count == rhs.pairs.count && zip(lhs.pairs, rhs.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

extension YAMLNode {
    fileprivate init(_ scalar: YAMLScalar) { self = .scalar(scalar) }
}

/// Malformed YAML: libyaml's problem and where (line and column from 1).
struct YAMLError: Error, Equatable, CustomStringConvertible {
    var message: String
    var line: Int
    var column: Int

    var description: String { line > 0 ? "line \(line), column \(column): \(message)" : message }
}

// MARK: reading

extension YAMLNode {
    /// The first document of `text`; nil when the text holds no document (empty, only comments).
    static func parse(_ text: String) throws(YAMLError) -> YAMLNode? {
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else { throw YAMLError(message: "libyaml could not start (out of memory)", line: 0, column: 0) }
        defer { yaml_parser_delete(parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { (buffer) throws(YAMLError) -> YAMLNode? in
            yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder()
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(parser, &event) == 1 else { throw YAMLError(parser.pointee) }
                defer { yaml_event_delete(&event) }
                if let done = try builder.take(event) { return done.root }
            }
        }
    }
}

extension YAMLError {
    fileprivate init(_ parser: yaml_parser_t) {
        var message = parser.problem.map { String(cString: $0) } ?? "not valid YAML"
        if let context = parser.context { message += " " + String(cString: context) }
        self.init(message: message, line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1)
    }
}

/// Builds the tree from libyaml's events, keeping anchored nodes for their aliases.
private struct TreeBuilder {
    struct Done { var root: YAMLNode? }
    enum Open {
        case sequence([YAMLNode], tag: String?, anchor: String?)
        case mapping([(key: YAMLNode, value: YAMLNode)], pendingKey: YAMLNode?, tag: String?, anchor: String?)
    }

    private var stack: [Open] = []
    private var anchors: [String: YAMLNode] = [:]
    private var root: YAMLNode?
    private var sawDocument = false

    /// Consumes one event; returns when the first document is complete (or the stream ends).
    mutating func take(_ event: yaml_event_t) throws(YAMLError) -> Done? {
        switch event.type {
        case YAML_DOCUMENT_START_EVENT: sawDocument = true
        case YAML_DOCUMENT_END_EVENT, YAML_STREAM_END_EVENT: return Done(root: root)
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: data.value, count: data.length), as: UTF8.self)
            let style: YAMLScalar.Style = switch data.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: .literal
            case YAML_FOLDED_SCALAR_STYLE: .folded
            default: .plain
            }
            var scalar = YAMLScalar(value, style: style, tag: text(data.tag))
            if scalar.tag == "!" {
                // The non-specific tag: a string, whatever its text looks like.
                scalar.tag = nil
                if scalar.style == .plain { scalar.style = .doubleQuoted }
            }
            try add(.scalar(scalar), anchor: text(data.anchor), at: event)
        case YAML_ALIAS_EVENT:
            let name = text(event.data.alias.anchor) ?? ""
            guard let node = anchors[name] else {
                throw YAMLError(message: "alias *\(name) names no anchor defined before it", line: line(event), column: column(event))
            }
            try add(node, anchor: nil, at: event)
        case YAML_SEQUENCE_START_EVENT:
            stack.append(.sequence([], tag: text(event.data.sequence_start.tag), anchor: text(event.data.sequence_start.anchor)))
        case YAML_MAPPING_START_EVENT:
            stack.append(.mapping([], pendingKey: nil, tag: text(event.data.mapping_start.tag), anchor: text(event.data.mapping_start.anchor)))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            switch stack.popLast() {
            case let .sequence(items, tag, anchor)?: try add(.sequence(items, tag: tag), anchor: anchor, at: event)
            case let .mapping(pairs, _, tag, anchor)?: try add(.mapping(YAMLMapping(pairs), tag: tag), anchor: anchor, at: event)
            case nil: break
            }
        default: break
        }
        return nil
    }

    private mutating func add(_ node: YAMLNode, anchor: String?, at event: yaml_event_t) throws(YAMLError) {
        if let anchor { anchors[anchor] = node }
        switch stack.popLast() {
        case nil: root = node
        case let .sequence(items, tag, anchor)?: stack.append(.sequence(items + [node], tag: tag, anchor: anchor))
        case let .mapping(pairs, nil, tag, anchor)?:
            stack.append(.mapping(pairs, pendingKey: node, tag: tag, anchor: anchor))
        case let .mapping(pairs, key?, tag, anchor)?:
            stack.append(.mapping(pairs + [(key, node)], pendingKey: nil, tag: tag, anchor: anchor))
        }
    }

    private func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private func line(_ event: yaml_event_t) -> Int { Int(event.start_mark.line) + 1 }
    private func column(_ event: yaml_event_t) -> Int { Int(event.start_mark.column) + 1 }
}

// MARK: writing

extension YAMLNode {
    /// The node as one YAML document, block style.
    func yaml() throws(YAMLError) -> String {
        let emitter = UnsafeMutablePointer<yaml_emitter_t>.allocate(capacity: 1)
        defer { emitter.deallocate() }
        guard yaml_emitter_initialize(emitter) == 1 else { throw YAMLError(message: "libyaml could not start (out of memory)", line: 0, column: 0) }
        defer { yaml_emitter_delete(emitter) }
        let output = OutputBuffer()
        let context = Unmanaged.passUnretained(output).toOpaque()
        yaml_emitter_set_output(emitter, { context, buffer, size in
            guard let context, let buffer else { return 0 }
            Unmanaged<OutputBuffer>.fromOpaque(context).takeUnretainedValue().bytes.append(contentsOf: UnsafeBufferPointer(start: buffer, count: size))
            return 1
        }, context)
        yaml_emitter_set_unicode(emitter, 1)
        yaml_emitter_set_width(emitter, -1)
        yaml_emitter_set_indent(emitter, 2)

        func emit(_ initialize: (UnsafeMutablePointer<yaml_event_t>) -> Int32) throws(YAMLError) {
            var event = yaml_event_t()
            guard initialize(&event) == 1 else { throw YAMLError(message: "libyaml refused an event (out of memory)", line: 0, column: 0) }
            guard yaml_emitter_emit(emitter, &event) == 1 else {
                throw YAMLError(message: emitter.pointee.problem.map { String(cString: $0) } ?? "libyaml could not write the document", line: 0, column: 0)
            }
        }
        try emit { yaml_stream_start_event_initialize($0, YAML_UTF8_ENCODING) }
        try emit { yaml_document_start_event_initialize($0, nil, nil, nil, 1) }
        try write(self, emit)
        try emit { yaml_document_end_event_initialize($0, 1) }
        try emit { yaml_stream_end_event_initialize($0) }
        return String(decoding: output.bytes, as: UTF8.self)
    }

    private func write(_ node: YAMLNode, _ emit: ((UnsafeMutablePointer<yaml_event_t>) -> Int32) throws(YAMLError) -> Void) throws(YAMLError) {
        switch node {
        case let .scalar(scalar):
            let style = switch scalar.style {
            case .plain: YAML_PLAIN_SCALAR_STYLE
            case .singleQuoted: YAML_SINGLE_QUOTED_SCALAR_STYLE
            case .doubleQuoted: YAML_DOUBLE_QUOTED_SCALAR_STYLE
            case .literal: YAML_LITERAL_SCALAR_STYLE
            case .folded: YAML_FOLDED_SCALAR_STYLE
            }
            // Implicit tags as read: a plain scalar resolves again from its text, a quoted one is a string.
            let plainImplicit: Int32 = scalar.tag == nil && scalar.style == .plain ? 1 : 0
            let quotedImplicit: Int32 = scalar.tag == nil && scalar.style != .plain ? 1 : 0
            let value = Array(scalar.value.utf8)
            try withOptionalCString(scalar.tag) { tag throws(YAMLError) in
                try emit { yaml_scalar_event_initialize($0, nil, tag, value, Int32(value.count), plainImplicit, quotedImplicit, style) }
            }
        case let .sequence(items, tag):
            try withOptionalCString(tag) { tag throws(YAMLError) in
                try emit { yaml_sequence_start_event_initialize($0, nil, tag, tag == nil ? 1 : 0, YAML_BLOCK_SEQUENCE_STYLE) }
            }
            for item in items { try write(item, emit) }
            try emit { yaml_sequence_end_event_initialize($0) }
        case let .mapping(mapping, tag):
            try withOptionalCString(tag) { tag throws(YAMLError) in
                try emit { yaml_mapping_start_event_initialize($0, nil, tag, tag == nil ? 1 : 0, YAML_BLOCK_MAPPING_STYLE) }
            }
            for (key, value) in mapping {
                try write(key, emit)
                try write(value, emit)
            }
            try emit { yaml_mapping_end_event_initialize($0) }
        }
    }
}

private final class OutputBuffer {
    var bytes: [UInt8] = []
}

private func withOptionalCString(_ string: String?, _ body: (UnsafePointer<yaml_char_t>?) throws(YAMLError) -> Void) throws(YAMLError) {
    guard let string else { return try body(nil) }
    var bytes = Array(string.utf8)
    bytes.append(0)
    try bytes.withUnsafeBufferPointer { (buffer) throws(YAMLError) in try body(buffer.baseAddress) }
}
