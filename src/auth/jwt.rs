//! A Cognito user pool's token, checked as API Gateway's COGNITO_USER_POOLS authorizer checks
//! it: the RS256 signature against the pool's published keys (JWKS), the issuer (the pool),
//! the expiry, and the token's use: an ID token when the method names no scopes, an access
//! token carrying one of them when it does. docs/auth.md, "Cognito".

use base64::Engine;
use serde_json::Value;

/// The longest token looked at (Cognito's are a few KB): a larger header is refused unread.
pub const MAX_TOKEN: usize = 16 * 1024;

/// One RSA public key of a JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub kid: String,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

/// The RSA keys of a JWKS document (`{"keys": [{"kty": "RSA", "kid", "n", "e"}]}`); others
/// are skipped.
pub fn keys_of(jwks: &Value) -> Vec<Key> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    jwks["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter(|k| k["kty"] == "RSA" && k["use"].as_str().is_none_or(|u| u == "sig"))
                .filter_map(|k| {
                    Some(Key {
                        kid: k["kid"].as_str()?.to_string(),
                        n: b64.decode(k["n"].as_str()?.trim_end_matches('=')).ok()?,
                        e: b64.decode(k["e"].as_str()?.trim_end_matches('=')).ok()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Why a token is refused (API Gateway answers each 401 Unauthorized; serve logs the why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// What the method asks of the token.
pub struct Expect<'a> {
    /// `https://cognito-idp.REGION.amazonaws.com/POOL_ID`, one per pool the authorizer names.
    pub issuers: &'a [String],
    /// The method's scopes: none, an ID token; some, an access token with one of them.
    pub scopes: &'a [String],
    /// Seconds since the epoch.
    pub now: u64,
}

/// The issuer a pool's tokens carry.
pub fn issuer(region: &str, pool_id: &str) -> String {
    format!("https://cognito-idp.{region}.amazonaws.com/{pool_id}")
}

/// The key id a token's header names, unverified: which of the pool's keys to fetch.
pub fn key_id(token: &str) -> Option<String> {
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next()?)
        .ok()?;
    let v: Value = serde_json::from_slice(&header).ok()?;
    v["kid"].as_str().map(str::to_string)
}

/// Checks a token; its claims when it passes.
pub fn verify(token: &str, keys: &[Key], expect: &Expect) -> Result<Value, Refused> {
    let bad = |why: &str| Err(Refused(why.to_string()));
    if token.len() > MAX_TOKEN {
        return bad("the token is longer than any Cognito issues");
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad("not a JWT (three dot-separated parts)");
    };
    let decode = |part: &str| b64.decode(part).ok();
    let (Some(header), Some(payload), Some(sig)) = (decode(h), decode(p), decode(s)) else {
        return bad("a part of the JWT is not base64url");
    };
    let (Ok(header), Ok(claims)) = (
        serde_json::from_slice::<Value>(&header),
        serde_json::from_slice::<Value>(&payload),
    ) else {
        return bad("the JWT's header or claims are not JSON");
    };
    if header["alg"] != "RS256" {
        return bad("the JWT is not signed RS256");
    }
    let Some(key) = keys
        .iter()
        .find(|k| Some(k.kid.as_str()) == header["kid"].as_str())
    else {
        return bad("the JWT's key id is not one of the user pool's keys");
    };
    let public = aws_lc_rs::signature::RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    };
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    if public
        .verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            signed,
            &sig,
        )
        .is_err()
    {
        return bad("the JWT's signature does not verify");
    }
    if !claims["iss"]
        .as_str()
        .is_some_and(|iss| expect.issuers.iter().any(|i| i == iss))
    {
        return bad("the JWT was not issued by the authorizer's user pool");
    }
    match claims["exp"].as_u64() {
        Some(exp) if exp > expect.now => {}
        Some(_) => return bad("the JWT has expired"),
        None => return bad("the JWT has no expiry"),
    }
    let token_use = claims["token_use"].as_str().unwrap_or_default();
    if expect.scopes.is_empty() {
        if token_use != "id" {
            return bad("the method names no scopes, so it takes an ID token");
        }
    } else {
        if token_use != "access" {
            return bad("the method names scopes, so it takes an access token");
        }
        let has: Vec<&str> = claims["scope"]
            .as_str()
            .unwrap_or_default()
            .split(' ')
            .collect();
        if !expect.scopes.iter().any(|s| has.contains(&s.as_str())) {
            return bad("the access token carries none of the method's scopes");
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 7515 appendix A.2 example: an RS256 JWS and its key.
    const N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const E: &str = "AQAB";
    const SIGNED: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

    fn key() -> Key {
        keys_of(&serde_json::json!({"keys": [{"kty": "RSA", "kid": "k1", "n": N, "e": E}]}))
            .remove(0)
    }

    #[test]
    fn the_signature_is_verified_before_any_claim_is_believed() {
        // The RFC's token has no kid and claims of its own: refused for the kid, and (given
        // the kid) its signature verifies and the issuer is what refuses it.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(r#"{"alg":"RS256","kid":"k1"}"#);
        let expect = Expect {
            issuers: &["https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x".into()],
            scopes: &[],
            now: 0,
        };
        let rfc = format!("{SIGNED}.{SIG}");
        assert_eq!(
            verify(&rfc, &[key()], &expect).unwrap_err().0,
            "the JWT's key id is not one of the user pool's keys"
        );
        // The same key verifies the RFC's own signing input.
        let public = aws_lc_rs::signature::RsaPublicKeyComponents {
            n: key().n,
            e: key().e,
        };
        public
            .verify(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                SIGNED.as_bytes(),
                &b64.decode(SIG).unwrap(),
            )
            .unwrap();
        // A token whose claims were changed after signing does not verify.
        let forged = format!(
            "{header}.{}.{SIG}",
            b64.encode(r#"{"iss":"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x","exp":99999999999,"token_use":"id"}"#)
        );
        assert_eq!(
            verify(&forged, &[key()], &expect).unwrap_err().0,
            "the JWT's signature does not verify"
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.??.##", &"x".repeat(MAX_TOKEN + 1)] {
            assert!(verify(junk, &[key()], &expect).is_err(), "{junk}");
        }
    }
}
