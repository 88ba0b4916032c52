import Testing
import OtterCrypto

@Suite struct Ed25519Tests {
    @Test func signsAndVerifies() throws {
        let key = try Ed25519PrivateKey()
        let sig = try key.signature(for: Array("hello".utf8))
        #expect(key.publicKey.isValidSignature(sig, for: Array("hello".utf8)))
        #expect(!key.publicKey.isValidSignature(sig, for: Array("hellp".utf8)))
    }
}
