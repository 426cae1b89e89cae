//! The site over HTTPS and the per-client limit, as infra/template.yaml
//! deploys them: a private, versioned bucket that only the distribution
//! reads; security headers whose CSP matches the page it guards; a WAF
//! rate-based rule per IP, off by default, that when on puts the API behind
//! the same distribution and guards the direct endpoint with a value the
//! function checks; an optional budget; and the publish script, which
//! uploads and invalidates only what changed.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn repo(relative: &str) -> String {
    format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"))
}

fn template() -> Value {
    let text = std::fs::read_to_string(repo("infra/template.yaml")).expect("template");
    serde_yaml_ng::from_str(&text).expect("plain YAML")
}

fn resource<'t>(t: &'t Value, name: &str) -> &'t Value {
    let r = &t["Resources"][name];
    assert!(!r.is_null(), "no resource {name}");
    r
}

#[test]
fn the_bucket_is_private_versioned_and_read_only_by_the_distribution() {
    let t = template();
    let b = &resource(&t, "SiteBucket")["Properties"];
    assert!(
        b.get("WebsiteConfiguration").is_none(),
        "no plain-HTTP website endpoint"
    );
    for block in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(b["PublicAccessBlockConfiguration"][block], true, "{block}");
    }
    assert_eq!(b["VersioningConfiguration"]["Status"], "Enabled");
    let statements = resource(&t, "SiteBucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .clone();
    assert!(
        statements.iter().any(|s| s["Effect"] == "Allow"),
        "the distribution is allowed to read: {statements:?}"
    );
    for s in statements.iter().filter(|s| s["Effect"] == "Allow") {
        assert_eq!(
            s["Principal"],
            serde_json::json!({"Service": "cloudfront.amazonaws.com"})
        );
        let source = s["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
            .as_str()
            .expect("scoped to one distribution");
        assert!(
            source.ends_with(":distribution/${SiteDistribution}"),
            "{source}"
        );
    }
    let d = &resource(&t, "SiteDistribution")["Properties"]["DistributionConfig"];
    let site = &d["Origins"][0];
    assert_eq!(
        site["OriginAccessControlId"]["Fn::GetAtt"][0],
        "SiteOriginAccessControl"
    );
    assert_eq!(
        d["DefaultCacheBehavior"]["ViewerProtocolPolicy"],
        "redirect-to-https"
    );
    let oac = &resource(&t, "SiteOriginAccessControl")["Properties"]["OriginAccessControlConfig"];
    assert_eq!(oac["SigningBehavior"], "always");
}

/// The CSP's directives, by name (`Fn::If` branch: per-client limit on?).
fn csp(t: &Value, per_client_limit: bool) -> std::collections::BTreeMap<String, String> {
    let p = &resource(t, "SiteHeadersPolicy")["Properties"]["ResponseHeadersPolicyConfig"];
    let branches =
        &p["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::If"];
    assert_eq!(branches[0], "PerClientLimitOn");
    let chosen = &branches[if per_client_limit { 1 } else { 2 }];
    let text = chosen
        .as_str()
        .or(chosen["Fn::Sub"].as_str())
        .expect("a policy");
    text.split(';')
        .filter_map(|d| d.trim().split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The base64 SHA-256 of the page's one inline <style>, as CSP writes a hash.
fn style_hash() -> String {
    let html = std::fs::read_to_string(repo("site/index.html")).expect("index.html");
    let start = html.find("<style>").expect("<style>") + "<style>".len();
    let end = html.find("</style>").expect("</style>");
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(sys.stdin.buffer.read()).digest()).decode())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&html.as_bytes()[start..end])
        .expect("write");
    let out = child.wait_with_output().expect("hash");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[test]
fn the_security_headers_guard_the_page_they_are_written_for() {
    let t = template();
    let c = &resource(&t, "SiteHeadersPolicy")["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
    assert!(c["StrictTransportSecurity"]["AccessControlMaxAgeSec"].as_u64() >= Some(31_536_000));
    assert_eq!(c["ContentTypeOptions"]["Override"], true, "nosniff");
    assert_eq!(c["FrameOptions"]["FrameOption"], "DENY");
    let hash = format!("'sha256-{}'", style_hash());
    for on in [false, true] {
        let d = csp(&t, on);
        assert_eq!(d["default-src"], "'none'");
        assert_eq!(d["script-src"], "'self'", "only visitor-counter.js");
        assert_eq!(
            d["style-src"], hash,
            "the inline <style> of site/index.html"
        );
        assert_eq!(d["frame-ancestors"], "'none'");
    }
    assert_eq!(
        csp(&t, false)["connect-src"],
        "https://${CounterApi}.execute-api.${AWS::Region}.amazonaws.com",
        "the page may talk to the API's origin only"
    );
    assert_eq!(
        csp(&t, true)["connect-src"],
        "'self'",
        "the API behind the same distribution"
    );
    let d = &resource(&t, "SiteDistribution")["Properties"]["DistributionConfig"];
    assert_eq!(
        d["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]["Ref"],
        "SiteHeadersPolicy"
    );
}

#[test]
fn the_per_client_limit_is_off_by_default_and_when_on_the_api_answers_only_through_it() {
    let t = template();
    assert_eq!(
        t["Parameters"]["PerClientLimit"]["Default"], 0,
        "off: it costs more than the rest"
    );
    assert_eq!(
        t["Conditions"]["PerClientLimitOn"],
        serde_json::json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "PerClientLimit"}, "0"]}]})
    );
    let acl = resource(&t, "PerClientWebAcl");
    assert_eq!(acl["Condition"], "PerClientLimitOn");
    assert_eq!(acl["Properties"]["Scope"], "CLOUDFRONT");
    let rule = &acl["Properties"]["Rules"][0];
    let rate = &rule["Statement"]["RateBasedStatement"];
    assert_eq!(rate["AggregateKeyType"], "IP", "per client");
    assert_eq!(rate["Limit"]["Ref"], "PerClientLimit");
    assert_eq!(
        rule["Action"]["Block"]["CustomResponse"]["ResponseCode"],
        429
    );

    let d = &resource(&t, "SiteDistribution")["Properties"]["DistributionConfig"];
    assert_eq!(
        d["WebACLId"]["Fn::If"],
        serde_json::json!(["PerClientLimitOn", {"Fn::GetAtt": ["PerClientWebAcl", "Arn"]}, {"Ref": "AWS::NoValue"}])
    );
    // The API origin exists only when on, and carries the value the
    // function requires: the same expression on both sides.
    let api = &d["Origins"][1]["Fn::If"];
    assert_eq!(api[0], "PerClientLimitOn");
    assert_eq!(api[2]["Ref"], "AWS::NoValue");
    let header = &api[1]["OriginCustomHeaders"][0];
    assert_eq!(
        header["HeaderName"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some(counter_lambda::config::ORIGIN_VERIFY_HEADER)
    );
    let env = &resource(&t, "CounterFunction")["Properties"]["Environment"]["Variables"];
    let secret = &env["ORIGIN_VERIFY_SECRET"]["Fn::If"];
    assert_eq!(secret[0], "PerClientLimitOn");
    assert_eq!(
        secret[1], header["HeaderValue"],
        "CloudFront sends what the function checks"
    );
    assert_eq!(secret[2], "", "off: the function checks nothing");
    let behaviour = &d["CacheBehaviors"]["Fn::If"][1][0];
    assert_eq!(behaviour["PathPattern"], "/visits");
    assert_eq!(behaviour["TargetOriginId"], "api");
    let outputs = &t["Outputs"]["ApiUrl"]["Value"]["Fn::If"];
    assert_eq!(
        outputs[1]["Fn::Sub"],
        "https://${SiteDistribution.DomainName}"
    );

    // On, the function refuses what skipped CloudFront; off, nothing.
    let on = crate::deployment::deployed_config_with("disabled", true);
    assert_eq!(
        on.edge_secret.as_deref(),
        Some(crate::deployment::STACK_UUID)
    );
    assert_eq!(
        crate::deployment::deployed_config_with("disabled", false).edge_secret,
        None
    );
}

#[test]
fn the_budget_alarm_is_optional_and_writes_to_the_address_given() {
    let t = template();
    assert_eq!(t["Parameters"]["BudgetEmail"]["Default"], "");
    let b = resource(&t, "MonthlyBudget");
    assert_eq!(b["Condition"], "BudgetOn");
    assert_eq!(
        b["Properties"]["Budget"]["BudgetLimit"]["Amount"]["Ref"],
        "BudgetMonthlyUsd"
    );
    let subscribers: BTreeSet<String> = b["Properties"]["NotificationsWithSubscribers"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| {
            n["Subscribers"][0]["Address"]["Ref"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(subscribers, BTreeSet::from(["BudgetEmail".to_owned()]));
}

/// A stand-in for the AWS CLI over a directory that plays the bucket:
/// list (key and MD5 as the ETag), copy in, remove, and invalidations
/// appended to a log.
const FAKE_AWS: &str = r#"#!/usr/bin/env bash
set -euo pipefail
case "$1 $2" in
  "s3api list-objects-v2")
    found=0
    while IFS= read -r f; do
      found=1
      printf '%s\t"%s"\n' "${f#"$FAKE_BUCKET"/}" "$(md5sum "$f" | cut -d' ' -f1)"
    done < <(find "$FAKE_BUCKET" -type f | sort)
    [ "$found" = 1 ] || echo None ;;
  "s3 cp") key="${4#s3://*/}"; mkdir -p "$(dirname "$FAKE_BUCKET/$key")"; cp "$3" "$FAKE_BUCKET/$key" ;;
  "s3 rm") key="${3#s3://*/}"; rm "$FAKE_BUCKET/$key" ;;
  "cloudfront create-invalidation")
    shift 2
    while [ "$1" != --paths ]; do shift; done
    shift
    echo "$*" >> "$FAKE_LOG" ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"#;

struct Publish {
    dir: tempfile::TempDir,
}

impl Publish {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("bucket")).expect("bucket");
        let aws = dir.path().join("aws");
        std::fs::write(&aws, FAKE_AWS).expect("fake aws");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Self { dir }
    }

    fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p)
    }

    /// The publish script, pointed at the fake `aws` and this page list.
    fn script(&self, api: &str, pages: &str) -> Command {
        std::fs::write(self.path("pages.txt"), pages).expect("pages");
        let mut c = Command::new("bash");
        c.arg(repo("infra/publish-site.sh"))
            .env("AWS", self.path("aws"))
            .env("FAKE_BUCKET", self.path("bucket"))
            .env("FAKE_LOG", self.path("log"))
            .env("BUCKET", "site-bucket")
            .env("DISTRIBUTION_ID", "E123")
            .env("API_URL", api)
            .env("BUILD_DIR", self.path("build"))
            .env("PAGES_FILE", self.path("pages.txt"));
        c
    }

    /// Runs infra/publish-site.sh with these pages; the invalidated paths.
    fn run(&self, api: &str, pages: &str) -> Vec<String> {
        let _ = std::fs::remove_file(self.path("log"));
        let out = self.script(api, pages).output().expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = std::fs::read_to_string(self.path("log")).unwrap_or_default();
        let mut paths: Vec<String> = log.split_whitespace().map(str::to_owned).collect();
        paths.sort();
        paths
    }

    fn objects(&self) -> BTreeSet<String> {
        walk(&self.path("bucket"))
    }
}

fn walk(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir).expect("dir").filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            let name = e.file_name().to_string_lossy().into_owned();
            out.extend(walk(&p).into_iter().map(|k| format!("{name}/{k}")));
        } else {
            out.insert(e.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

#[test]
fn publishing_uploads_and_invalidates_only_what_changed() {
    let p = Publish::new();
    let api = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod";
    let first = p.run(api, "/\n/blog/\n");
    assert_eq!(
        first,
        [
            "/",
            "/blog/",
            "/blog/index.html",
            "/index.html",
            "/visitor-counter.js"
        ],
        "everything is new"
    );
    let page = std::fs::read_to_string(p.path("bucket/blog/index.html")).expect("page");
    assert!(
        page.contains(&format!("data-api=\"{api}\"")),
        "pointed at the API"
    );

    assert!(
        p.run(api, "/\n/blog/\n").is_empty(),
        "nothing changed: no invalidation"
    );

    // Another API: the pages change, the script does not.
    let moved = p.run("https://d111.cloudfront.net", "/\n/blog/\n");
    assert_eq!(moved, ["/", "/blog/", "/blog/index.html", "/index.html"]);

    // A page removed from pages.txt is deleted and invalidated.
    let removed = p.run("https://d111.cloudfront.net", "/\n");
    assert_eq!(removed, ["/blog/", "/blog/index.html"]);
    assert_eq!(
        p.objects(),
        BTreeSet::from(["index.html".to_owned(), "visitor-counter.js".to_owned()])
    );
}

#[test]
fn publishing_refuses_a_page_or_an_api_url_it_would_have_to_trust() {
    let p = Publish::new();
    for (api, pages) in [
        ("https://ok.example", "/$(touch pwned)/\n"),
        ("https://ok.example", "/../\n"),
        ("https://x.example\" onload=\"alert(1)", "/\n"),
    ] {
        let out = p
            .script(api, pages)
            .current_dir(p.dir.path())
            .output()
            .expect("bash runs");
        assert_eq!(out.status.code(), Some(2), "{api} {pages:?}");
        assert!(p.objects().is_empty(), "nothing published");
        assert!(!p.path("pwned").exists());
    }
}
