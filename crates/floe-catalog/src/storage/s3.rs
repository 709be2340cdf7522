//! S3 (and S3-compatible stores) as a warehouse location.
//!
//! Settings come, in rising precedence, from what the catalog file stored when the
//! warehouse was first opened (never secrets), the environment as the AWS SDKs read it
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, ...), and Iceberg's property names given when opening
//! (`s3.endpoint`, `s3.access-key-id`, `s3.secret-access-key`, `s3.session-token`,
//! `s3.region`, `s3.path-style-access`, and floe's `s3.conditional-put`,
//! `s3.max-retries`). A completed PUT is whole and durable, so the commit protocol's
//! step 1 needs no rename and no flush on S3; the pointer move stays the local redb
//! transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

use super::object_store::WriteOptions;
use crate::error::{Error, Result};

/// Property names floe accepts for S3; any other `s3.*` name is refused as a typo.
pub const PROPERTIES: &[&str] = &[
    "s3.endpoint",
    "s3.access-key-id",
    "s3.secret-access-key",
    "s3.session-token",
    "s3.region",
    "client.region",
    "s3.path-style-access",
    "s3.conditional-put",
    "s3.max-retries",
];

/// The settings the catalog file keeps, so reopening needs none of them again. Secrets
/// are never among them.
pub const STORED: &[&str] = &[
    "s3.endpoint",
    "s3.region",
    "s3.path-style-access",
    "s3.conditional-put",
];

/// Whether `location` is on S3 (`s3://`, or Hadoop's `s3a://`/`s3n://`).
pub fn is_s3(location: &str) -> bool {
    ["s3://", "s3a://", "s3n://"]
        .iter()
        .any(|p| location.starts_with(p))
}

/// A bucket and the object prefix inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket name.
    pub bucket: String,
    /// Prefix inside the bucket, without leading or trailing `/`.
    pub prefix: String,
}

/// Parses `s3://bucket/prefix`.
pub fn parse_location(location: &str) -> Result<S3Location> {
    let canonical = super::object_store::canonical_scheme(location);
    let rest = canonical
        .strip_prefix("s3://")
        .ok_or_else(|| Error::InvalidArgument(format!("'{location}' is not an s3:// location")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "'{location}' names no bucket (expected s3://BUCKET/PREFIX)"
        )));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|s| s == ".." || s == ".") {
        return Err(Error::InvalidArgument(format!(
            "'{location}' has a '.' or '..' segment"
        )));
    }
    Ok(S3Location {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
    })
}

/// The `s3.*` settings among `props`; an unknown `s3.*` name is an error naming it.
pub fn settings_from(props: &HashMap<String, String>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in props {
        let lower = k.to_ascii_lowercase();
        if PROPERTIES.contains(&lower.as_str()) {
            out.insert(lower, v.clone());
        } else if lower.starts_with("s3.") {
            return Err(Error::InvalidArgument(format!(
                "unknown S3 setting '{k}' (known: {})",
                PROPERTIES.join(", ")
            )));
        }
    }
    Ok(out)
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "enabled" => Ok(true),
        "false" | "0" | "no" | "off" | "disabled" => Ok(false),
        _ => Err(Error::InvalidArgument(format!(
            "setting '{key}' must be true or false, not '{value}'"
        ))),
    }
}

/// An S3 store for one warehouse, and what it was built from.
pub struct S3Store {
    /// The store (one bucket).
    pub store: Arc<dyn ObjectStore>,
    /// `s3://bucket`.
    pub base: String,
    /// Where and how files are put.
    pub write_options: WriteOptions,
    /// The settings to keep in the catalog file (no secrets).
    pub to_store: BTreeMap<String, String>,
    /// The endpoint requests go to, for error messages.
    pub endpoint: String,
    /// Requests sent so far.
    pub requests: Arc<super::counting::RequestCounts>,
}

/// Environment variables read, with the setting each one gives.
const ENV: &[(&str, &str)] = &[
    ("AWS_ENDPOINT_URL_S3", "s3.endpoint"),
    ("AWS_ENDPOINT_URL", "s3.endpoint"),
    ("AWS_ACCESS_KEY_ID", "s3.access-key-id"),
    ("AWS_SECRET_ACCESS_KEY", "s3.secret-access-key"),
    ("AWS_SESSION_TOKEN", "s3.session-token"),
    ("AWS_REGION", "s3.region"),
    ("AWS_DEFAULT_REGION", "s3.region"),
];

/// Other credential sources the AWS SDKs honour (web identity, container credentials),
/// passed to object_store as they are.
const CREDENTIAL_SOURCES: &[&str] = &[
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// Builds the store for `root` (`s3://bucket/prefix`) from the stored settings, the
/// environment and `props`, in that rising precedence.
pub fn build(
    root: &str,
    stored: &BTreeMap<String, String>,
    props: &BTreeMap<String, String>,
) -> Result<S3Store> {
    let loc = parse_location(root)?;
    let mut settings: BTreeMap<String, String> = stored
        .iter()
        .filter(|(k, _)| STORED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // The first variable of a pair wins (AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL).
    let mut from_env = BTreeMap::new();
    for (var, key) in ENV {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            from_env.entry(key.to_string()).or_insert(v);
        }
    }
    settings.extend(from_env);
    for (k, v) in props {
        let key = if k == "client.region" { "s3.region" } else { k };
        settings.insert(key.to_string(), v.clone());
    }

    let mut builder = AmazonS3Builder::new().with_bucket_name(&loc.bucket);
    let mut other_source = false;
    for var in CREDENTIAL_SOURCES {
        if let Ok(value) = std::env::var(var)
            && let Ok(key) = var.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
        {
            builder = builder.with_config(key, value);
            // These alone supply credentials; the others only qualify them.
            other_source |= matches!(
                *var,
                "AWS_WEB_IDENTITY_TOKEN_FILE"
                    | "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
                    | "AWS_CONTAINER_CREDENTIALS_FULL_URI"
            );
        }
    }
    let region = settings
        .get("s3.region")
        .cloned()
        .unwrap_or_else(|| "us-east-1".to_string());
    builder = builder.with_region(&region);
    let endpoint = match settings.get("s3.endpoint") {
        Some(e) => {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(Error::InvalidArgument(format!(
                    "setting 's3.endpoint' must be an http:// or https:// URL, not '{e}'"
                )));
            }
            // An endpoint given as http:// is the user's explicit choice (a local
            // server such as MinIO); object_store refuses plain HTTP unless told.
            builder = builder.with_endpoint(e.trim_end_matches('/'));
            e.trim_end_matches('/').to_string()
        }
        None => format!("https://s3.{region}.amazonaws.com"),
    };
    if let Some(v) = settings.get("s3.path-style-access") {
        builder =
            builder.with_virtual_hosted_style_request(!parse_bool("s3.path-style-access", v)?);
    }
    let conditional_put = match settings.get("s3.conditional-put") {
        Some(v) => parse_bool("s3.conditional-put", v)?,
        None => true,
    };
    builder = builder.with_conditional_put(if conditional_put {
        S3ConditionalPut::ETagMatch
    } else {
        S3ConditionalPut::Disabled
    });
    let key = settings.get("s3.access-key-id");
    let secret = settings.get("s3.secret-access-key");
    match (key, secret) {
        (Some(k), Some(s)) => {
            builder = builder.with_access_key_id(k).with_secret_access_key(s);
            if let Some(t) = settings.get("s3.session-token") {
                builder = builder.with_token(t);
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::InvalidArgument(format!(
                "incomplete S3 credentials for bucket '{}': give both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or s3.access-key-id and s3.secret-access-key)",
                loc.bucket
            )));
        }
        (None, None) => {
            if !other_source {
                // Without this, object_store would ask the EC2 instance-metadata
                // endpoint and wait out its timeouts on every machine that is not EC2.
                return Err(Error::InvalidArgument(format!(
                    "no S3 credentials for bucket '{}': set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the settings s3.access-key-id and s3.secret-access-key)",
                    loc.bucket
                )));
            }
        }
    }
    let max_retries = match settings.get("s3.max-retries") {
        Some(v) => v.parse::<usize>().map_err(|_| {
            Error::InvalidArgument(format!(
                "setting 's3.max-retries' must be a whole number, not '{v}'"
            ))
        })?,
        None => 4,
    };
    builder = builder
        .with_retry(RetryConfig {
            max_retries,
            retry_timeout: Duration::from_secs(30),
            ..Default::default()
        })
        .with_client_options(
            ClientOptions::new()
                // An endpoint given as http:// is the user's explicit choice (a local
                // server such as MinIO); object_store refuses plain HTTP unless told.
                .with_allow_http(endpoint.starts_with("http://"))
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(120)),
        );
    let store = builder.build().map_err(|e| {
        Error::InvalidArgument(format!(
            "cannot configure S3 for bucket '{}': {e}",
            loc.bucket
        ))
    })?;
    let counting = super::counting::CountingStore::new(Arc::new(store));
    let requests = counting.counts();
    let to_store = settings
        .iter()
        .filter(|(k, _)| STORED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(S3Store {
        store: Arc::new(counting),
        requests,
        base: format!("s3://{}", loc.bucket),
        write_options: WriteOptions {
            conditional_put,
            ..Default::default()
        },
        to_store,
        endpoint,
    })
}

/// Checks that the bucket exists and the credentials may list it, with one request,
/// so that a wrong setting is reported when the warehouse opens rather than at the
/// first statement.
pub async fn probe(s3: &S3Store, root: &str) -> Result<()> {
    let loc = parse_location(root)?;
    let prefix = ObjectPath::from(loc.prefix.as_str());
    match s3.store.list_with_delimiter(Some(&prefix)).await {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::ObjectStore(describe(&e, &loc.bucket, &s3.endpoint))),
    }
}

/// One line a user can act on for an S3 failure: which bucket, and which setting.
pub fn describe(e: &object_store::Error, bucket: &str, endpoint: &str) -> String {
    let text = explain(e);
    if text.contains("NoSuchBucket") {
        return format!(
            "S3 bucket '{bucket}' does not exist at {endpoint} (check the bucket name, AWS_REGION or s3.region, AWS_ENDPOINT_URL or s3.endpoint)"
        );
    }
    match e {
        object_store::Error::NotFound { .. } => format!(
            "S3 bucket '{bucket}' does not exist at {endpoint} (check the bucket name, AWS_REGION or s3.region, AWS_ENDPOINT_URL or s3.endpoint)"
        ),
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            format!(
                "access denied to S3 bucket '{bucket}' at {endpoint} (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or s3.access-key-id and s3.secret-access-key): {text}"
            )
        }
        _ => format!("S3 bucket '{bucket}' at {endpoint}: {text}"),
    }
}

/// object_store's error chain on one line, with the S3 error code and message when the
/// server sent them (not its XML), and what to check when the endpoint could not be
/// reached or the credentials were refused.
pub fn explain(e: &object_store::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    // An S3 error body: keep its code and message.
    if let Some(start) = text.find("<?xml") {
        let body = &text[start..];
        let tag = |t: &str| {
            body.split_once(&format!("<{t}>"))
                .and_then(|(_, rest)| rest.split_once(&format!("</{t}>")))
                .map(|(v, _)| v.to_string())
        };
        let summary = match (tag("Code"), tag("Message")) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c,
            _ => String::new(),
        };
        text = format!("{}{summary}", &text[..start]);
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = text.to_ascii_lowercase();
    if lower.contains("connection refused")
        || lower.contains("error sending request")
        || lower.contains("dns error")
        || lower.contains("tcp connect")
        || lower.contains("timed out")
    {
        return format!(
            "cannot reach the S3 endpoint (check AWS_ENDPOINT_URL or s3.endpoint): {text}"
        );
    }
    if lower.contains("invalidaccesskeyid") || lower.contains("signaturedoesnotmatch") {
        return format!(
            "the S3 credentials were refused (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or s3.access-key-id and s3.secret-access-key): {text}"
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            parse_location("s3://b/p/q/").unwrap(),
            S3Location {
                bucket: "b".into(),
                prefix: "p/q".into()
            }
        );
        assert_eq!(parse_location("s3a://b").unwrap().prefix, "");
        assert!(parse_location("s3:///p").is_err());
        assert!(parse_location("s3://b/p/../q").is_err());
        assert!(is_s3("s3a://b/x") && !is_s3("file:///x"));
    }

    #[test]
    fn unknown_settings_are_refused_by_name() {
        let props = HashMap::from([("s3.endpiont".to_string(), "x".to_string())]);
        let e = settings_from(&props).unwrap_err().to_string();
        assert!(e.contains("s3.endpiont"), "{e}");
        let props = HashMap::from([
            ("S3.Region".to_string(), "eu-west-1".to_string()),
            ("warehouse".to_string(), "s3://b".to_string()),
        ]);
        assert_eq!(
            settings_from(&props).unwrap(),
            BTreeMap::from([("s3.region".to_string(), "eu-west-1".to_string())])
        );
    }
}
