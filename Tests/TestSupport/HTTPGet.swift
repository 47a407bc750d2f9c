import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A blocking HTTP GET for tests of the coordinator's HTTP endpoint.
public enum HTTPGet {
    public struct Response {
        public let status: Int
        public let contentType: String
        public let body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public static func get(_ address: String, headers: [String: String] = [:], timeout: TimeInterval = 10) throws -> Response {
        var request = URLRequest(url: URL(string: address)!, timeoutInterval: timeout)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<Response, any Error> = .failure(URLError(.timedOut))
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                result = .failure(error)
            } else if let http = response as? HTTPURLResponse {
                result = .success(Response(status: http.statusCode, contentType: http.value(forHTTPHeaderField: "Content-Type") ?? "", body: data ?? Data()))
            }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + timeout + 1)
        return try result.get()
    }
}
