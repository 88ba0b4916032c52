import Testing
import OtterCrypto

/// JWS pieces the registry tokens use: ES256 signatures (r ‖ s) and base64url.
@Suite struct JWSTests {
    @Test func es256SignaturesAreSixtyFourBytesAndVerifyOnlyForTheirMessage() throws {
        let key = try ECDSAP256PrivateKey()
        for message in ["", "a", String(repeating: "header.claims", count: 50)] {
            let signature = try key.jwsSignature(for: Array(message.utf8))
            #expect(signature.count == 64)
            #expect(key.publicKey.isValidJWSSignature(signature, for: Array(message.utf8)))
            #expect(!key.publicKey.isValidJWSSignature(signature, for: Array((message + "x").utf8)))
            var flipped = signature
            flipped[40] ^= 1
            #expect(!key.publicKey.isValidJWSSignature(flipped, for: Array(message.utf8)))
        }
        #expect(!key.publicKey.isValidJWSSignature([UInt8](repeating: 1, count: 63), for: [1]))
    }

    @Test func base64URLHasNoPaddingAndRoundTrips() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 97 + 251) }
            let text = Base64.encodeURL(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64.decodeURL(text) == bytes)
        }
        #expect(Base64.encodeURL([0xfb, 0xff]) == "-_8")
        #expect(Base64.decodeURL("+/8") == nil)
    }
}
