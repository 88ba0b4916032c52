import CCurl

/// libcurl's process-wide state, initialised once (a Swift global is initialised exactly once,
/// thread-safely) before the first handle is made.
enum CurlGlobal {
    static let initResult: CURLcode = ccurl_global_init_all()

    static func ensureInitialized() -> Bool {
        initResult == CURLE_OK
    }
}

/// One libcurl easy handle: the settings and callbacks of one attempt. Typed, throwing setters
/// over the variadic `curl_easy_setopt` keep every raw option call in this file.
final class CurlEasy {
    let handle: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// `CURLOPT_ERRORBUFFER`: libcurl's explanation of a failure, more precise than the code's text.
    let errorBuffer: UnsafeMutablePointer<CChar>

    init?() {
        guard CurlGlobal.ensureInitialized(), let handle = curl_easy_init() else { return nil }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        _ = ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
    }

    deinit {
        curl_easy_cleanup(handle)
        if let headerList { curl_slist_free_all(headerList) }
        errorBuffer.deallocate()
    }

    struct OptionError: Error {
        var option: String
        var message: String
    }

    func set(_ option: CURLoption, _ value: Int, _ name: String) throws(OptionError) {
        try check(ccurl_setopt_long(handle, option, value), name)
    }

    func set(_ option: CURLoption, _ value: Bool, _ name: String) throws(OptionError) {
        try check(ccurl_setopt_long(handle, option, value ? 1 : 0), name)
    }

    /// libcurl copies string options (since 7.17), so the C string need not outlive the call.
    func set(_ option: CURLoption, _ value: String, _ name: String) throws(OptionError) {
        try check(ccurl_setopt_string(handle, option, value), name)
    }

    func set(_ option: CURLoption, offset value: Int64, _ name: String) throws(OptionError) {
        try check(ccurl_setopt_offset(handle, option, curl_off_t(value)), name)
    }

    func set(_ option: CURLoption, pointer value: UnsafeMutableRawPointer?, _ name: String) throws(OptionError) {
        try check(ccurl_setopt_pointer(handle, option, value), name)
    }

    func set(_ option: CURLoption, callback: ccurl_data_callback, _ name: String) throws(OptionError) {
        try check(ccurl_setopt_data_callback(handle, option, callback), name)
    }

    func setProgressCallback(_ callback: ccurl_progress_callback) throws(OptionError) {
        try check(ccurl_setopt_progress_callback(handle, callback), "CURLOPT_XFERINFOFUNCTION")
    }

    func setSeekCallback(_ callback: ccurl_seek_callback) throws(OptionError) {
        try check(ccurl_setopt_seek_callback(handle, callback), "CURLOPT_SEEKFUNCTION")
    }

    /// Header lines as libcurl sends them (`Name: value`; `Name;` sends an empty value;
    /// `Name:` suppresses a header libcurl would add itself).
    func setHeaderLines(_ lines: [String]) throws(OptionError) {
        var list: UnsafeMutablePointer<curl_slist>?
        for line in lines {
            guard let appended = curl_slist_append(list, line) else {
                if let list { curl_slist_free_all(list) }
                throw OptionError(option: "CURLOPT_HTTPHEADER", message: "out of memory")
            }
            list = appended
        }
        try check(ccurl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list)), "CURLOPT_HTTPHEADER")
        if let headerList { curl_slist_free_all(headerList) }
        headerList = list
    }

    func infoInt(_ info: CURLINFO) -> Int {
        var value = 0
        return ccurl_getinfo_long(handle, info, &value) == CURLE_OK ? value : 0
    }

    func infoString(_ info: CURLINFO) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard ccurl_getinfo_string(handle, info, &value) == CURLE_OK, let value else { return nil }
        return String(cString: value)
    }

    /// libcurl's explanation of the last failure: the error buffer, else the code's generic text.
    func failureText(_ code: CURLcode) -> String {
        let buffered = String(cString: errorBuffer)
        if !buffered.isEmpty { return buffered }
        return String(cString: curl_easy_strerror(code))
    }

    private func check(_ code: CURLcode, _ name: String) throws(OptionError) {
        guard code == CURLE_OK else {
            throw OptionError(option: name, message: String(cString: curl_easy_strerror(code)))
        }
    }
}
