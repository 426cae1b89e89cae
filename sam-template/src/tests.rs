//! The reader's tests: the project's template, and small ones that make
//! each rule fail.

use super::*;
use std::path::Path;
use std::time::Duration;

const REPO_TEMPLATE: &str = include_str!("../../infra/template.yaml");

fn parse(text: &str) -> Result<HttpStage, String> {
    Template::parse(text, Path::new("t.yaml"))
        .and_then(|t| t.http_stage())
        .map_err(|e| e.to_string())
}

#[test]
fn parameters_can_be_given_as_a_deploy_gives_them_and_unknown_ones_are_refused() {
    let text = REPO_TEMPLATE;
    let t = Template::parse_with(
        text,
        Path::new("t.yaml"),
        &[
            ("OtherRoutesRateLimit".into(), "1000".into()),
            ("ReservedConcurrency".into(), "7".into()),
        ],
    )
    .and_then(|t| t.http_stage())
    .expect("overridden");
    let get = t.routes.iter().find(|r| r.key.key() == "GET /visits");
    assert_eq!(
        get.and_then(|r| r.throttle).and_then(|th| th.rate),
        Some(1000.0)
    );
    assert_eq!(t.function.reserved_concurrency, Some(7));
    let e = Template::parse_with(text, Path::new("t.yaml"), &[("Nope".into(), "1".into())])
        .expect_err("no such parameter")
        .to_string();
    assert!(e.contains("Nope"), "{e}");
}

#[test]
fn the_projects_template_reads_as_it_deploys() {
    let text = REPO_TEMPLATE;
    let t = parse(text).expect("the project's template");
    assert_eq!(t.stage_name, "prod");
    let mut keys: Vec<String> = t.routes.iter().map(|r| r.key.key()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ANY /{proxy+}",
            "GET /visits",
            "OPTIONS /visits",
            "POST /visits"
        ]
    );
    for r in &t.routes {
        // The counting route's own throttle; every other route's is small.
        let expected = if r.key.key() == "POST /visits" {
            ThrottleSetting::new(200.0, 15.0)
        } else {
            ThrottleSetting::new(5.0, 10.0)
        };
        assert_eq!(r.throttle, Some(expected), "{}", r.key.key());
        assert_eq!(r.payload_format, "2.0");
        assert_eq!(r.integration_timeout, MAX_INTEGRATION_TIMEOUT);
    }
    let f = &t.function;
    assert_eq!(
        (f.memory_mb, f.timeout, f.reserved_concurrency),
        (128, Duration::from_secs(6), Some(60))
    );
    assert_eq!(f.handler.as_deref(), Some("bootstrap"));
    assert_eq!(f.runtime.as_deref(), Some("provided.al2023"));
    let env = &f.environment;
    assert_eq!(env["TABLE_NAME"], "visitor_count");
    assert_eq!(
        env["ALLOWED_ORIGINS"], "",
        "no browser origin unless deployed with one"
    );
    assert_eq!(
        env["LOADTEST_PATH_PREFIX"], "",
        "LoadTestKeys defaults to disabled"
    );
    assert_eq!(env["DYNAMODB_OPERATION_TIMEOUT_MS"], "4000");
    // AllowedPaths has no default: left unset, and said.
    assert!(!env.contains_key("ALLOWED_PATHS"));
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("ALLOWED_PATHS") && n.contains("AllowedPaths")),
        "{:?}",
        t.notes
    );
}

const SMALL: &str = r#"
Parameters:
  Rate: {Type: Number, Default: 50}
  Mode: {Type: String, Default: on}
Conditions:
  IsOn: !Equals [!Ref Mode, "on"]
Globals:
  Function: {Timeout: 2}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefaultRouteSettings: {ThrottlingRateLimit: !Ref Rate, ThrottlingBurstLimit: 5}
      RouteSettings:
        "GET /slow": {ThrottlingRateLimit: 1, ThrottlingBurstLimit: 1}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          WHERE: !Sub "${AWS::Region}/${Mode}/${!Literal}"
          PICKED: !If [IsOn, yes-branch, no-branch]
          GONE: !If [IsOn, !Ref AWS::NoValue, x]
          ARN: !GetAtt Fn.Arn
      Events:
        Post: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: post, Path: /things}}
        Slow: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /slow, TimeoutInMillis: 1000}}
        Catch: {Type: HttpApi, Properties: {ApiId: !Ref Api}}
"#;

#[test]
fn short_forms_conditions_and_route_settings_resolve() {
    let t = parse(SMALL).expect("small template");
    assert_eq!(t.stage_name, "$default");
    let by_key = |k: &str| {
        t.routes
            .iter()
            .find(|r| r.key.key() == k)
            .cloned()
            .expect("the route")
    };
    let post = by_key("POST /things");
    assert_eq!(post.throttle, Some(ThrottleSetting::new(50.0, 5.0)));
    let slow = by_key("GET /slow");
    assert_eq!(slow.throttle, Some(ThrottleSetting::new(1.0, 1.0)));
    assert_eq!(slow.integration_timeout, Duration::from_secs(1));
    assert_eq!(by_key("$default").throttle, post.throttle);
    let f = &t.function;
    assert_eq!(f.timeout, Duration::from_secs(2));
    assert_eq!(f.reserved_concurrency, None);
    assert_eq!(f.memory_mb, 128);
    assert_eq!(f.environment["WHERE"], "us-east-1/on/${Literal}");
    assert_eq!(f.environment["PICKED"], "yes-branch");
    assert!(!f.environment.contains_key("GONE"));
    assert!(!f.environment.contains_key("ARN"));
    assert!(t.notes.iter().any(|n| n.contains("ARN")), "{:?}", t.notes);
    assert_eq!(
        f.environment_unset.keys().collect::<Vec<_>>(),
        ["ARN"],
        "{:?}",
        f.environment_unset
    );
}

#[test]
fn templates_it_cannot_serve_are_refused_with_the_reason() {
    let rest = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        E: {Type: Api, Properties: {Path: /x, Method: get}}\n";
    assert!(parse(rest).expect_err("refused").contains("REST"));
    assert!(
        parse("Resources: {}\n")
            .expect_err("refused")
            .contains("no AWS::Serverless::Function")
    );
    assert!(
        parse(": not yaml : [")
            .expect_err("refused")
            .contains("YAML")
    );
    let bad_path = SMALL.replace("Path: /things", "Path: '/{all+}/x'");
    assert!(parse(&bad_path).expect_err("refused").contains("greedy"));
    let bad_number = SMALL.replace("Default: 50", "Default: fast");
    assert!(
        parse(&bad_number)
            .expect_err("refused")
            .contains("not a number")
    );
}

/// What `loadtest plan` reads: the routes in the template's order, each
/// with its own throttle apart from the stage's default, the function's
/// architecture, the log group's retention, the web ACL's limit.
#[test]
fn the_projects_template_gives_the_stacks_shape() {
    let t = Template::parse(REPO_TEMPLATE, Path::new("t.yaml")).expect("parses");
    let api = t.api().expect("the API");
    assert_eq!(api.kind, ApiKind::Http);
    assert_eq!(api.logical_id.as_deref(), Some("CounterApi"));
    let small = ThrottleSetting::new(5.0, 10.0);
    let counting = ThrottleSetting::new(200.0, 15.0);
    assert_eq!(api.default_throttle, Some(counting));
    let own: Vec<(String, Option<ThrottleSetting>)> = api
        .routes
        .iter()
        .map(|r| (r.key.key(), r.own_throttle))
        .collect();
    assert_eq!(
        own,
        [
            ("POST /visits".to_owned(), None),
            ("GET /visits".to_owned(), Some(small)),
            ("OPTIONS /visits".to_owned(), Some(small)),
            ("ANY /{proxy+}".to_owned(), Some(small)),
        ]
    );
    let f = t.function().expect("the function");
    assert_eq!(
        f.logical_id, "CounterFunction",
        "the one with HttpApi events"
    );
    assert_eq!(f.architecture, Architecture::Arm64);
    assert_eq!(t.log_retention_days().expect("retention"), Some(30));
    assert_eq!(t.per_client_limit().expect("limit"), None, "off by default");
    let on = Template::parse_with(
        REPO_TEMPLATE,
        Path::new("t.yaml"),
        &[("PerClientLimit".into(), "300".into())],
    )
    .expect("parses");
    assert!(on.condition("PerClientLimitOn").expect("evaluates"));
    assert_eq!(on.per_client_limit().expect("limit"), Some(300));
}

#[test]
fn a_rest_api_is_known_by_its_kind_and_a_bare_function_by_lambdas_defaults() {
    let t = Template::parse(
        "Resources:\n  F:\n    Type: AWS::Lambda::Function\n  A:\n    Type: AWS::Serverless::Api\n    Properties:\n      MethodSettings:\n        - {ThrottlingRateLimit: 9}\n",
        Path::new("t.yaml"),
    )
    .expect("parses");
    let api = t.api().expect("the API");
    assert_eq!(api.kind, ApiKind::Rest);
    assert!(api.routes.is_empty());
    let th = api.default_throttle.expect("a throttle");
    assert_eq!(th.rate, Some(9.0));
    assert_eq!(th.burst, None, "left out: the account's");
    let account = Throttle {
        rate: 10_000.0,
        burst: 5_000.0,
    };
    assert_eq!(
        th.or_account(account),
        Throttle {
            rate: 9.0,
            burst: 5_000.0
        }
    );
    assert_eq!(th.to_string(), "9 req/s, the account's burst");
    let f = t.function().expect("the function");
    assert_eq!(
        (
            f.architecture,
            f.memory_mb,
            f.timeout,
            f.reserved_concurrency
        ),
        (Architecture::X86_64, 128, Duration::from_secs(3), None)
    );
    assert_eq!(t.log_retention_days().expect("none"), None);
    assert!(
        t.http_stage()
            .expect_err("nothing to serve")
            .to_string()
            .contains("no AWS::Serverless::Function")
    );
}

#[test]
fn values_lambda_would_refuse_are_refused() {
    let with = |props: &str| {
        Template::parse(
            &format!("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {{{props}}}\n"),
            Path::new("t.yaml"),
        )
        .expect("parses")
        .function()
        .map_err(|e| e.to_string())
    };
    assert!(
        with("MemorySize: 64")
            .expect_err("small")
            .contains("MemorySize")
    );
    assert!(
        with("MemorySize: 200.5")
            .expect_err("a fraction")
            .contains("MemorySize")
    );
    assert!(with("Timeout: 901").expect_err("long").contains("Timeout"));
    assert!(with("ReservedConcurrentExecutions: -1").is_err());
    assert!(
        with("Architectures: [sparc]")
            .expect_err("unknown")
            .contains("sparc")
    );
    assert!(with("MemorySize: lots").expect_err("text").contains("lots"));
    assert_eq!(with("MemorySize: 1769").expect("fine").memory_mb, 1769);
}

#[test]
fn conditions_that_cannot_be_evaluated_say_so() {
    let t = Template::parse(
        "Conditions:\n  A: {Condition: B}\n  B: {Condition: A}\n  C: {\"Fn::Whatever\": []}\nResources: {}\n",
        Path::new("t.yaml"),
    )
    .expect("parses");
    assert!(
        t.condition("A")
            .expect_err("a cycle")
            .to_string()
            .contains("too deep")
    );
    let c = t.condition("C").expect_err("unknown").to_string();
    assert!(
        c.contains("cannot evaluate") && c.contains("Fn::Whatever"),
        "{c}"
    );
    assert!(t.condition("D").is_err());
}

#[test]
fn name_equals_value() {
    assert_eq!(key_value("A_1=x=y"), Ok(("A_1".into(), "x=y".into())));
    assert_eq!(key_value("A="), Ok(("A".into(), String::new())));
    for bad in ["novalue", "=x", "1A=x", "A-B=x"] {
        assert!(key_value(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_search_stops_at_the_git_root() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("repo/.git")).expect("git");
    std::fs::create_dir_all(root.join("repo/a/b")).expect("dirs");
    std::fs::create_dir_all(root.join("infra")).expect("infra");
    std::fs::write(root.join("infra/template.yaml"), "x").expect("outside");
    assert_eq!(find(&root.join("repo/a/b")), None, "not above the git root");
    std::fs::create_dir_all(root.join("repo/infra")).expect("infra");
    std::fs::write(root.join("repo/infra/template.yaml"), "x").expect("inside");
    assert_eq!(
        find(&root.join("repo/a/b")),
        Some(root.join("repo/infra/template.yaml"))
    );
}

/// A number that sizes the stage and cannot be resolved is refused (with
/// the way out), not read as left out: the stack would be another one.
#[test]
fn a_number_that_cannot_be_resolved_is_refused_with_the_way_out() {
    let text = "Parameters:\n  NoDefault: {Type: Number}\nMappings:\n  M: {a: {b: 256}}\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      MemorySize: !FindInMap [M, a, b]\n";
    let t = Template::parse(text, Path::new("t.yaml")).expect("parses");
    let e = t.function().expect_err("memory unknown").to_string();
    assert!(e.contains("MemorySize") && e.contains("--parameter"), "{e}");
    let text = "Parameters:\n  NoDefault: {Type: Number}\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      ReservedConcurrentExecutions: !Ref NoDefault\n";
    let e = Template::parse(text, Path::new("t.yaml"))
        .expect("parses")
        .function()
        .expect_err("no value")
        .to_string();
    assert!(e.contains("NoDefault has no default"), "{e}");
    let given = Template::parse_with(
        text,
        Path::new("t.yaml"),
        &[("NoDefault".into(), "5".into())],
    )
    .expect("parses");
    assert_eq!(
        given.function().expect("given").reserved_concurrency,
        Some(5)
    );
    let e = Template::parse_with(
        text,
        Path::new("t.yaml"),
        &[("NoDefault".into(), "five".into())],
    )
    .expect_err("not a number")
    .to_string();
    assert!(e.contains("--parameter NoDefault=five"), "{e}");
}

/// A template that refers to itself (a parameter's default naming the
/// parameter, a condition inside its own `Fn::If`) is refused: a deploy
/// refuses it too, and reading it must end.
#[test]
fn a_value_that_refers_to_itself_is_refused_not_followed_forever() {
    let function = |memory: &str| {
        format!(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      MemorySize: {memory}\n"
        )
    };
    let parameter = format!(
        "Parameters:\n  P: {{Type: String, Default: !Ref P}}\n{}",
        function("!Ref P")
    );
    let condition = format!(
        "Conditions:\n  A: !Equals [!If [A, x, y], x]\n{}",
        function("!If [A, 128, 256]")
    );
    for text in [parameter, condition] {
        let e = Template::parse(&text, Path::new("t.yaml"))
            .and_then(|t| t.function())
            .expect_err("a cycle")
            .to_string();
        assert!(e.contains("nests too deep"), "{e}");
    }
}
