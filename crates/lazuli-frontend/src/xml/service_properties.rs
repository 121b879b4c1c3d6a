//! Set/Get Blob Service Properties (`StorageServiceProperties`).

use lazuli_types::AzureError;
use serde::{Deserialize, Serialize};

use super::reader::{missing_node, node_value_error, set_once, Pull, MAX_SMALL_DOCUMENT};
use super::writer::Xml;

/// The service keeps at most five CORS rules.
pub const MAX_CORS_RULES: usize = 5;
/// Retention periods (logging, metrics, soft delete) are 1 to 365 days.
pub const MAX_RETENTION_DAYS: u32 = 365;
/// Per CORS rule: up to 64 allowed origins, and up to 64 literal plus 2 prefixed
/// (`x-ms-meta-*`) headers in each header list.
pub const MAX_CORS_ORIGINS: usize = 64;
pub const MAX_CORS_LITERAL_HEADERS: usize = 64;
pub const MAX_CORS_PREFIXED_HEADERS: usize = 2;
/// The methods a CORS rule may allow.
pub const CORS_METHODS: [&str; 8] = ["DELETE", "GET", "HEAD", "MERGE", "POST", "OPTIONS", "PUT", "PATCH"];

/// Blob service properties. In a Set request every part is optional and an absent part
/// (`None`) leaves the stored value unchanged; `cors: Some(vec![])` (an empty `<Cors/>`)
/// removes all rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceProperties {
    pub logging: Option<Logging>,
    pub hour_metrics: Option<Metrics>,
    pub minute_metrics: Option<Metrics>,
    pub cors: Option<Vec<CorsRule>>,
    pub default_service_version: Option<String>,
    pub delete_retention_policy: Option<RetentionPolicy>,
    pub static_website: Option<StaticWebsite>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logging {
    pub version: String,
    pub delete: bool,
    pub read: bool,
    pub write: bool,
    pub retention_policy: RetentionPolicy,
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            version: "1.0".to_string(),
            delete: false,
            read: false,
            write: false,
            retention_policy: RetentionPolicy::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    pub version: Option<String>,
    pub enabled: bool,
    pub include_apis: Option<bool>,
    pub retention_policy: Option<RetentionPolicy>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            version: Some("1.0".to_string()),
            enabled: false,
            include_apis: None,
            retention_policy: Some(RetentionPolicy::default()),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub enabled: bool,
    /// 1..=365, present exactly when `enabled`.
    pub days: Option<u32>,
    /// Only meaningful in `DeleteRetentionPolicy` (version 2020-10-02 and later).
    #[serde(default)]
    pub allow_permanent_delete: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    /// Comma-separated origins, or `*`.
    pub allowed_origins: String,
    /// Comma-separated HTTP methods.
    pub allowed_methods: String,
    /// Comma-separated header names; a trailing `*` makes a prefix.
    pub allowed_headers: String,
    pub exposed_headers: String,
    pub max_age_in_seconds: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticWebsite {
    pub enabled: bool,
    pub index_document: Option<String>,
    pub error_document_404_path: Option<String>,
    pub default_index_document_path: Option<String>,
}

/// Parses a Set Blob Service Properties body. Elements may come in any order; unknown
/// elements are refused (`UnsupportedXmlNode`), bad values give `InvalidXmlNodeValue`,
/// and rule violations the service checks while reading the document (more than five
/// CORS rules, retention days outside 1..=365, `Days` on a disabled policy) give
/// `InvalidXmlDocument` with a `Reason`, as the service answers.
pub fn parse_service_properties(body: &[u8]) -> Result<ServiceProperties, AzureError> {
    let mut p = Pull::new(body, MAX_SMALL_DOCUMENT)?;
    p.root("StorageServiceProperties")?;
    let mut props = ServiceProperties::default();
    while let Some(name) = p.next_child()? {
        match name.as_str() {
            "Logging" => {
                let v = parse_logging(&mut p)?;
                set_once(&p, &mut props.logging, &name, v)?;
            }
            "HourMetrics" => {
                let v = parse_metrics(&mut p)?;
                set_once(&p, &mut props.hour_metrics, &name, v)?;
            }
            "MinuteMetrics" => {
                let v = parse_metrics(&mut p)?;
                set_once(&p, &mut props.minute_metrics, &name, v)?;
            }
            "Cors" => {
                let v = parse_cors(&mut p)?;
                set_once(&p, &mut props.cors, &name, v)?;
            }
            "DefaultServiceVersion" => {
                let text = p.text()?;
                if !is_version(text.trim()) {
                    return Err(node_value_error(&name, &text));
                }
                set_once(&p, &mut props.default_service_version, &name, text.trim().to_string())?;
            }
            "DeleteRetentionPolicy" => {
                let v = parse_retention(&mut p)?;
                set_once(&p, &mut props.delete_retention_policy, &name, v)?;
            }
            "StaticWebsite" => {
                let v = parse_static_website(&mut p)?;
                set_once(&p, &mut props.static_website, &name, v)?;
            }
            _ => return Err(p.unsupported(&name)),
        }
    }
    p.finish()?;
    Ok(props)
}

/// `YYYY-MM-DD`: the shape of every service version.
fn is_version(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn parse_logging(p: &mut Pull<'_>) -> Result<Logging, AzureError> {
    let (mut version, mut delete, mut read, mut write, mut retention) = (None, None, None, None, None);
    while let Some(name) = p.next_child()? {
        match name.as_str() {
            "Version" => {
                let v = p.text()?;
                set_once(p, &mut version, &name, v.trim().to_string())?;
            }
            "Delete" => {
                let v = p.bool_text(&name)?;
                set_once(p, &mut delete, &name, v)?;
            }
            "Read" => {
                let v = p.bool_text(&name)?;
                set_once(p, &mut read, &name, v)?;
            }
            "Write" => {
                let v = p.bool_text(&name)?;
                set_once(p, &mut write, &name, v)?;
            }
            "RetentionPolicy" => {
                let v = parse_retention(p)?;
                set_once(p, &mut retention, &name, v)?;
            }
            _ => return Err(p.unsupported(&name)),
        }
    }
    Ok(Logging {
        version: version.ok_or_else(|| missing_node("Version"))?,
        delete: delete.ok_or_else(|| missing_node("Delete"))?,
        read: read.ok_or_else(|| missing_node("Read"))?,
        write: write.ok_or_else(|| missing_node("Write"))?,
        retention_policy: retention.ok_or_else(|| missing_node("RetentionPolicy"))?,
    })
}

fn parse_metrics(p: &mut Pull<'_>) -> Result<Metrics, AzureError> {
    let (mut version, mut enabled, mut include_apis, mut retention) = (None, None, None, None);
    while let Some(name) = p.next_child()? {
        match name.as_str() {
            "Version" => {
                let v = p.text()?;
                set_once(p, &mut version, &name, v.trim().to_string())?;
            }
            "Enabled" => {
                let v = p.bool_text(&name)?;
                set_once(p, &mut enabled, &name, v)?;
            }
            "IncludeAPIs" => {
                let v = p.bool_text(&name)?;
                set_once(p, &mut include_apis, &name, v)?;
            }
            "RetentionPolicy" => {
                let v = parse_retention(p)?;
                set_once(p, &mut retention, &name, v)?;
            }
            _ => return Err(p.unsupported(&name)),
        }
    }
    Ok(Metrics {
        version,
        enabled: enabled.ok_or_else(|| missing_node("Enabled"))?,
        include_apis,
        retention_policy: retention,
    })
}

fn parse_retention(p: &mut Pull<'_>) -> Result<RetentionPolicy, AzureError> {
    let (mut enabled, mut days, mut allow_permanent_delete) = (None, None, None);
    while let Some(name) = p.next_child()? {
        match name.as_str() {
            "Enabled" => {
                let v = p.bool_text(&name)?;
                set_once(p, &mut enabled, &name, v)?;
            }
            "Days" => {
                let v = p.u32_text(&name)?;
                if !(1..=MAX_RETENTION_DAYS).contains(&v) {
                    return Err(p.error(format!("Days must be between 1 and {MAX_RETENTION_DAYS}; it is {v}.")));
                }
                set_once(p, &mut days, &name, v)?;
            }
            "AllowPermanentDelete" => {
                let v = p.bool_text(&name)?;
                set_once(p, &mut allow_permanent_delete, &name, v)?;
            }
            _ => return Err(p.unsupported(&name)),
        }
    }
    let enabled = enabled.ok_or_else(|| missing_node("Enabled"))?;
    // The service's own reasons, seen in its answers to such documents.
    if !enabled && days.is_some() {
        return Err(p.error("Element Days is only expected when RetentionPolicy is enabled."));
    }
    if enabled && days.is_none() {
        return Err(p.error("Element Days is required when RetentionPolicy is enabled."));
    }
    Ok(RetentionPolicy {
        enabled,
        days,
        allow_permanent_delete,
    })
}

fn parse_cors(p: &mut Pull<'_>) -> Result<Vec<CorsRule>, AzureError> {
    let mut rules = Vec::new();
    while let Some(name) = p.next_child()? {
        if name != "CorsRule" {
            return Err(p.unsupported(&name));
        }
        if rules.len() == MAX_CORS_RULES {
            return Err(p.error(format!("No more than {MAX_CORS_RULES} CORS rules are allowed.")));
        }
        rules.push(parse_cors_rule(p)?);
    }
    Ok(rules)
}

fn parse_cors_rule(p: &mut Pull<'_>) -> Result<CorsRule, AzureError> {
    let (mut origins, mut methods, mut allowed, mut exposed, mut max_age) = (None, None, None, None, None);
    while let Some(name) = p.next_child()? {
        match name.as_str() {
            "AllowedOrigins" => {
                let v = p.text()?;
                set_once(p, &mut origins, &name, v)?;
            }
            "AllowedMethods" => {
                let v = p.text()?;
                set_once(p, &mut methods, &name, v)?;
            }
            "AllowedHeaders" => {
                let v = p.text()?;
                set_once(p, &mut allowed, &name, v)?;
            }
            "ExposedHeaders" => {
                let v = p.text()?;
                set_once(p, &mut exposed, &name, v)?;
            }
            "MaxAgeInSeconds" => {
                let v = p.u32_text(&name)?;
                set_once(p, &mut max_age, &name, v)?;
            }
            _ => return Err(p.unsupported(&name)),
        }
    }
    let rule = CorsRule {
        allowed_origins: origins.ok_or_else(|| missing_node("AllowedOrigins"))?,
        allowed_methods: methods.ok_or_else(|| missing_node("AllowedMethods"))?,
        // The swagger marks the header lists required, but an absent list and an empty
        // one mean the same (no headers), and serializers that drop empty strings would
        // otherwise fail for no benefit.
        allowed_headers: allowed.unwrap_or_default(),
        exposed_headers: exposed.unwrap_or_default(),
        max_age_in_seconds: max_age.ok_or_else(|| missing_node("MaxAgeInSeconds"))?,
    };
    let methods = list(&rule.allowed_methods);
    if methods.is_empty() || methods.iter().any(|m| !CORS_METHODS.contains(m)) {
        return Err(node_value_error("AllowedMethods", &rule.allowed_methods));
    }
    let origins = list(&rule.allowed_origins);
    if origins.is_empty() || origins.len() > MAX_CORS_ORIGINS || origins.iter().any(|o| o.len() > 256) {
        return Err(node_value_error("AllowedOrigins", &rule.allowed_origins));
    }
    for (name, value) in [
        ("AllowedHeaders", &rule.allowed_headers),
        ("ExposedHeaders", &rule.exposed_headers),
    ] {
        let headers = list(value);
        let prefixed = headers.iter().filter(|h| h.len() > 1 && h.ends_with('*')).count();
        if prefixed > MAX_CORS_PREFIXED_HEADERS
            || headers.len() - prefixed > MAX_CORS_LITERAL_HEADERS
            || headers.iter().any(|h| h.len() > 256)
        {
            return Err(node_value_error(name, value));
        }
    }
    Ok(rule)
}

/// The entries of a comma-separated CORS list.
fn list(s: &str) -> Vec<&str> {
    s.split(',').map(str::trim).filter(|e| !e.is_empty()).collect()
}

fn parse_static_website(p: &mut Pull<'_>) -> Result<StaticWebsite, AzureError> {
    let (mut enabled, mut index, mut error_404, mut default_index) = (None, None, None, None);
    while let Some(name) = p.next_child()? {
        match name.as_str() {
            "Enabled" => {
                let v = p.bool_text(&name)?;
                set_once(p, &mut enabled, &name, v)?;
            }
            "IndexDocument" => {
                let v = p.text()?;
                set_once(p, &mut index, &name, v)?;
            }
            "ErrorDocument404Path" => {
                let v = p.text()?;
                set_once(p, &mut error_404, &name, v)?;
            }
            "DefaultIndexDocumentPath" => {
                let v = p.text()?;
                set_once(p, &mut default_index, &name, v)?;
            }
            _ => return Err(p.unsupported(&name)),
        }
    }
    Ok(StaticWebsite {
        enabled: enabled.ok_or_else(|| missing_node("Enabled"))?,
        index_document: index,
        error_document_404_path: error_404,
        default_index_document_path: default_index,
    })
}

/// Get Blob Service Properties response. Parts never set are written with their defaults
/// (everything off, logging version 1.0), in the order the service writes them:
/// Logging, HourMetrics, MinuteMetrics, Cors, DeleteRetentionPolicy, StaticWebsite, and
/// DefaultServiceVersion last (only when set).
pub fn write_service_properties(props: &ServiceProperties) -> Vec<u8> {
    let mut x = Xml::with_declaration();
    x.open("StorageServiceProperties");

    let logging = props.logging.clone().unwrap_or_default();
    x.open("Logging");
    x.elem("Version", &logging.version);
    // The service writes Read, Write, Delete, whatever order the request used.
    x.elem_bool("Read", logging.read);
    x.elem_bool("Write", logging.write);
    x.elem_bool("Delete", logging.delete);
    write_retention(&mut x, "RetentionPolicy", &logging.retention_policy);
    x.close("Logging");

    write_metrics(&mut x, "HourMetrics", props.hour_metrics.as_ref());
    write_metrics(&mut x, "MinuteMetrics", props.minute_metrics.as_ref());

    match props.cors.as_deref() {
        None | Some([]) => x.empty("Cors"),
        Some(rules) => {
            x.open("Cors");
            for rule in rules {
                x.open("CorsRule");
                x.elem("AllowedMethods", &rule.allowed_methods);
                x.elem("AllowedOrigins", &rule.allowed_origins);
                x.elem("AllowedHeaders", &rule.allowed_headers);
                x.elem("ExposedHeaders", &rule.exposed_headers);
                x.elem_num("MaxAgeInSeconds", rule.max_age_in_seconds);
                x.close("CorsRule");
            }
            x.close("Cors");
        }
    }

    write_retention(
        &mut x,
        "DeleteRetentionPolicy",
        props
            .delete_retention_policy
            .as_ref()
            .unwrap_or(&RetentionPolicy::default()),
    );

    let website = props.static_website.clone().unwrap_or_default();
    x.open("StaticWebsite");
    x.elem_bool("Enabled", website.enabled);
    if website.enabled {
        x.elem_opt("IndexDocument", website.index_document.as_deref());
        x.elem_opt("ErrorDocument404Path", website.error_document_404_path.as_deref());
        x.elem_opt(
            "DefaultIndexDocumentPath",
            website.default_index_document_path.as_deref(),
        );
    }
    x.close("StaticWebsite");

    x.elem_opt("DefaultServiceVersion", props.default_service_version.as_deref());
    x.close("StorageServiceProperties");
    x.buf
}

fn write_metrics(x: &mut Xml, name: &str, metrics: Option<&Metrics>) {
    let metrics = metrics.cloned().unwrap_or_default();
    x.open(name);
    x.elem("Version", metrics.version.as_deref().unwrap_or("1.0"));
    x.elem_bool("Enabled", metrics.enabled);
    // The service reports IncludeAPIs only for enabled metrics.
    if metrics.enabled {
        x.elem_bool("IncludeAPIs", metrics.include_apis.unwrap_or(false));
    }
    write_retention(
        x,
        "RetentionPolicy",
        metrics.retention_policy.as_ref().unwrap_or(&RetentionPolicy::default()),
    );
    x.close(name);
}

fn write_retention(x: &mut Xml, name: &str, policy: &RetentionPolicy) {
    x.open(name);
    x.elem_bool("Enabled", policy.enabled);
    if policy.enabled {
        if let Some(days) = policy.days {
            x.elem_num("Days", days);
        }
    }
    if let Some(allow) = policy.allow_permanent_delete {
        x.elem_bool("AllowPermanentDelete", allow);
    }
    x.close(name);
}

#[cfg(test)]
mod tests {
    use super::*;
    use lazuli_types::ErrorCode;

    fn rule(methods: &str) -> CorsRule {
        CorsRule {
            allowed_origins: "*".into(),
            allowed_methods: methods.into(),
            allowed_headers: "*".into(),
            exposed_headers: "*".into(),
            max_age_in_seconds: 86400,
        }
    }

    fn full() -> ServiceProperties {
        ServiceProperties {
            logging: Some(Logging {
                version: "1.0".into(),
                delete: true,
                read: true,
                write: true,
                retention_policy: RetentionPolicy {
                    enabled: true,
                    days: Some(5),
                    allow_permanent_delete: None,
                },
            }),
            hour_metrics: Some(Metrics {
                version: Some("1.0".into()),
                enabled: true,
                include_apis: Some(true),
                retention_policy: Some(RetentionPolicy {
                    enabled: true,
                    days: Some(3),
                    allow_permanent_delete: None,
                }),
            }),
            minute_metrics: Some(Metrics {
                version: Some("1.0".into()),
                enabled: false,
                include_apis: None,
                retention_policy: Some(RetentionPolicy::default()),
            }),
            cors: Some(vec![
                rule("DELETE,GET,HEAD,MERGE,POST,OPTIONS,PUT"),
                CorsRule {
                    allowed_origins: "example.com".into(),
                    allowed_methods: "GET".into(),
                    allowed_headers: "x-ms-meta-data*,x-ms-meta-target*".into(),
                    exposed_headers: "x-ms-meta-*".into(),
                    max_age_in_seconds: 8888,
                },
            ]),
            default_service_version: Some("2018-03-28".into()),
            delete_retention_policy: Some(RetentionPolicy {
                enabled: true,
                days: Some(7),
                allow_permanent_delete: Some(false),
            }),
            static_website: Some(StaticWebsite {
                enabled: true,
                index_document: None,
                error_document_404_path: Some("error/404.html".into()),
                default_index_document_path: Some("index.html".into()),
            }),
        }
    }

    #[test]
    fn writer_matches_the_service_order() {
        let expected = "<?xml version=\"1.0\" encoding=\"utf-8\"?><StorageServiceProperties>\
            <Logging><Version>1.0</Version><Read>true</Read><Write>true</Write><Delete>true</Delete>\
            <RetentionPolicy><Enabled>true</Enabled><Days>5</Days></RetentionPolicy></Logging>\
            <HourMetrics><Version>1.0</Version><Enabled>true</Enabled><IncludeAPIs>true</IncludeAPIs>\
            <RetentionPolicy><Enabled>true</Enabled><Days>3</Days></RetentionPolicy></HourMetrics>\
            <MinuteMetrics><Version>1.0</Version><Enabled>false</Enabled>\
            <RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></MinuteMetrics>\
            <Cors><CorsRule><AllowedMethods>DELETE,GET,HEAD,MERGE,POST,OPTIONS,PUT</AllowedMethods>\
            <AllowedOrigins>*</AllowedOrigins><AllowedHeaders>*</AllowedHeaders><ExposedHeaders>*</ExposedHeaders>\
            <MaxAgeInSeconds>86400</MaxAgeInSeconds></CorsRule><CorsRule><AllowedMethods>GET</AllowedMethods>\
            <AllowedOrigins>example.com</AllowedOrigins><AllowedHeaders>x-ms-meta-data*,x-ms-meta-target*</AllowedHeaders>\
            <ExposedHeaders>x-ms-meta-*</ExposedHeaders><MaxAgeInSeconds>8888</MaxAgeInSeconds></CorsRule></Cors>\
            <DeleteRetentionPolicy><Enabled>true</Enabled><Days>7</Days><AllowPermanentDelete>false</AllowPermanentDelete>\
            </DeleteRetentionPolicy><StaticWebsite><Enabled>true</Enabled><ErrorDocument404Path>error/404.html\
            </ErrorDocument404Path><DefaultIndexDocumentPath>index.html</DefaultIndexDocumentPath></StaticWebsite>\
            <DefaultServiceVersion>2018-03-28</DefaultServiceVersion></StorageServiceProperties>";
        assert_eq!(String::from_utf8(write_service_properties(&full())).unwrap(), expected);
    }

    #[test]
    fn defaults_for_missing_parts() {
        let expected = "<?xml version=\"1.0\" encoding=\"utf-8\"?><StorageServiceProperties>\
            <Logging><Version>1.0</Version><Read>false</Read><Write>false</Write><Delete>false</Delete>\
            <RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></Logging>\
            <HourMetrics><Version>1.0</Version><Enabled>false</Enabled>\
            <RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></HourMetrics>\
            <MinuteMetrics><Version>1.0</Version><Enabled>false</Enabled>\
            <RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></MinuteMetrics><Cors />\
            <DeleteRetentionPolicy><Enabled>false</Enabled></DeleteRetentionPolicy>\
            <StaticWebsite><Enabled>false</Enabled></StaticWebsite></StorageServiceProperties>";
        assert_eq!(
            String::from_utf8(write_service_properties(&ServiceProperties::default())).unwrap(),
            expected
        );
    }

    #[test]
    fn round_trip() {
        let props = full();
        assert_eq!(
            parse_service_properties(&write_service_properties(&props)).unwrap(),
            props
        );
        // JSON rows too.
        let json = serde_json::to_string(&props).unwrap();
        assert_eq!(serde_json::from_str::<ServiceProperties>(&json).unwrap(), props);
    }

    #[test]
    fn sdk_request_order_and_partial_documents() {
        // The order the SDKs send (swagger order), with whitespace.
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<StorageServiceProperties>
  <Logging><Version>1.0</Version><Delete>false</Delete><Read>true</Read><Write>false</Write>
    <RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></Logging>
  <Cors/>
  <DeleteRetentionPolicy><Enabled>true</Enabled><Days>14</Days></DeleteRetentionPolicy>
</StorageServiceProperties>"#;
        let props = parse_service_properties(body).unwrap();
        assert!(props.logging.as_ref().unwrap().read);
        assert_eq!(props.cors, Some(vec![]));
        assert_eq!(props.delete_retention_policy.unwrap().days, Some(14));
        assert!(props.hour_metrics.is_none() && props.static_website.is_none());
        assert!(props.default_service_version.is_none());

        // A body touching one part only.
        let props = parse_service_properties(
            b"<StorageServiceProperties><StaticWebsite><Enabled>true</Enabled>\
              <IndexDocument>index.html</IndexDocument></StaticWebsite></StorageServiceProperties>",
        )
        .unwrap();
        assert_eq!(
            props.static_website.unwrap().index_document.as_deref(),
            Some("index.html")
        );
        assert!(props.logging.is_none() && props.cors.is_none());
    }

    fn code(body: &str) -> ErrorCode {
        parse_service_properties(body.as_bytes()).unwrap_err().code
    }

    fn wrap(inner: &str) -> String {
        format!("<StorageServiceProperties>{inner}</StorageServiceProperties>")
    }

    #[test]
    fn cors_rule_limit() {
        let rule = "<CorsRule><AllowedOrigins>*</AllowedOrigins><AllowedMethods>GET</AllowedMethods>\
                    <AllowedHeaders></AllowedHeaders><ExposedHeaders/><MaxAgeInSeconds>5</MaxAgeInSeconds></CorsRule>";
        let five = wrap(&format!("<Cors>{}</Cors>", rule.repeat(5)));
        assert_eq!(
            parse_service_properties(five.as_bytes()).unwrap().cors.unwrap().len(),
            5
        );
        let six = wrap(&format!("<Cors>{}</Cors>", rule.repeat(6)));
        let err = parse_service_properties(six.as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidXmlDocument);
        assert!(err.details.iter().any(|(k, v)| *k == "Reason" && v.contains("CORS")));
    }

    #[test]
    fn validation_errors() {
        let rp = |inner: &str| wrap(&format!("<DeleteRetentionPolicy>{inner}</DeleteRetentionPolicy>"));
        assert_eq!(
            code(&rp("<Enabled>true</Enabled><Days>0</Days>")),
            ErrorCode::InvalidXmlDocument
        );
        assert_eq!(
            code(&rp("<Enabled>true</Enabled><Days>366</Days>")),
            ErrorCode::InvalidXmlDocument
        );
        assert_eq!(
            code(&rp("<Enabled>false</Enabled><Days>7</Days>")),
            ErrorCode::InvalidXmlDocument
        );
        assert_eq!(code(&rp("<Enabled>true</Enabled>")), ErrorCode::InvalidXmlDocument);
        assert_eq!(
            code(&rp("<Enabled>true</Enabled><Days>-1</Days>")),
            ErrorCode::InvalidXmlNodeValue
        );
        assert_eq!(code(&rp("<Enabled>yes</Enabled>")), ErrorCode::InvalidXmlNodeValue);
        assert_eq!(code(&rp("<Days>3</Days>")), ErrorCode::MissingRequiredXmlNode);
        assert_eq!(
            code(&rp("<Enabled>true</Enabled><Days>365</Days><Foo/>")),
            ErrorCode::UnsupportedXmlNode
        );
        assert_eq!(
            code(&rp("<Enabled>false</Enabled><Enabled>false</Enabled>")),
            ErrorCode::InvalidXmlDocument
        );
        assert!(parse_service_properties(rp("<Enabled> true </Enabled><Days>365</Days>").as_bytes()).is_ok());

        let cors = |methods: &str| {
            wrap(&format!(
                "<Cors><CorsRule><AllowedOrigins>*</AllowedOrigins><AllowedMethods>{methods}</AllowedMethods>\
                 <AllowedHeaders/><ExposedHeaders/><MaxAgeInSeconds>1</MaxAgeInSeconds></CorsRule></Cors>"
            ))
        };
        assert_eq!(code(&cors("GET,FETCH")), ErrorCode::InvalidXmlNodeValue);
        assert_eq!(code(&cors("")), ErrorCode::InvalidXmlNodeValue);
        assert_eq!(
            code(&wrap(
                "<Cors><CorsRule><AllowedOrigins>*</AllowedOrigins></CorsRule></Cors>"
            )),
            ErrorCode::MissingRequiredXmlNode
        );
        assert_eq!(code(&wrap("<Cors><Rule/></Cors>")), ErrorCode::UnsupportedXmlNode);
        let no_header_lists = wrap(
            "<Cors><CorsRule><AllowedOrigins>*</AllowedOrigins><AllowedMethods>GET</AllowedMethods>\
             <MaxAgeInSeconds>0</MaxAgeInSeconds></CorsRule></Cors>",
        );
        let rules = parse_service_properties(no_header_lists.as_bytes())
            .unwrap()
            .cors
            .unwrap();
        assert_eq!(
            (rules[0].allowed_headers.as_str(), rules[0].exposed_headers.as_str()),
            ("", "")
        );
        let headers = |list: &str| {
            wrap(&format!(
                "<Cors><CorsRule><AllowedOrigins>*</AllowedOrigins><AllowedMethods>GET</AllowedMethods>\
                 <AllowedHeaders>{list}</AllowedHeaders><MaxAgeInSeconds>0</MaxAgeInSeconds></CorsRule></Cors>"
            ))
        };
        assert!(parse_service_properties(headers("x-ms-meta-a*,x-ms-meta-b*,x-custom").as_bytes()).is_ok());
        assert_eq!(code(&headers("a*,b*,c*")), ErrorCode::InvalidXmlNodeValue);
        let many: Vec<String> = (0..65).map(|i| format!("h{i}")).collect();
        assert_eq!(code(&headers(&many.join(","))), ErrorCode::InvalidXmlNodeValue);
        let origins: Vec<String> = (0..65).map(|i| format!("https://o{i}.example")).collect();
        let too_many_origins = wrap(&format!(
            "<Cors><CorsRule><AllowedOrigins>{}</AllowedOrigins><AllowedMethods>GET</AllowedMethods>\
             <MaxAgeInSeconds>0</MaxAgeInSeconds></CorsRule></Cors>",
            origins.join(",")
        ));
        assert_eq!(code(&too_many_origins), ErrorCode::InvalidXmlNodeValue);
        assert_eq!(
            code(&wrap("<DefaultServiceVersion>latest</DefaultServiceVersion>")),
            ErrorCode::InvalidXmlNodeValue
        );
        assert_eq!(code(&wrap("<Unknown/>")), ErrorCode::UnsupportedXmlNode);
        assert_eq!(code("<ServiceProperties/>"), ErrorCode::InvalidXmlDocument);
        assert_eq!(code(""), ErrorCode::InvalidXmlDocument);
        assert_eq!(
            code(&wrap("<Logging><Version>1.0</Version></Logging>")),
            ErrorCode::MissingRequiredXmlNode
        );
        assert_eq!(
            code(&wrap("<HourMetrics><Version>1.0</Version></HourMetrics>")),
            ErrorCode::MissingRequiredXmlNode
        );
    }
}
