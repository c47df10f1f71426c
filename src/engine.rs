//! Runs steps with dependencies: every step whose dependencies have finished starts at once,
//! so independent work (the table, the role, the API's skeleton) overlaps. A step records its
//! result in the state itself before it returns, so what depends on it always finds it there.
//!
//! When a step fails, no new step starts; the steps already running finish (and record what
//! they made), then the first error is returned. Nothing made is ever left unrecorded.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::report::Progress;

/// What a step did, for the progress line and the final report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Updated,
    Adopted,
    Unchanged,
    Deleted,
    Gone,
    Kept,
    /// Found by name but not this stack's, and never recorded as ours: left alone.
    Skipped,
}

/// The outcome of one step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// The group it is reported in (a kind's step: `method`, `permission`).
    pub step: String,
    /// The resource key (`method:POST /user`).
    pub key: String,
    pub action: Action,
    /// Name or id of the resource.
    pub resource: String,
    /// Extra words for the progress line (e.g. "code updated").
    pub detail: Option<String>,
    pub seconds: f64,
}

pub type StepFn<C> =
    Box<dyn Fn(Arc<C>) -> BoxFuture<'static, anyhow::Result<StepResult>> + Send + Sync>;

/// What a step's function returns; the engine adds the step's name and duration.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub action: Action,
    pub resource: String,
    pub detail: Option<String>,
}

impl StepResult {
    pub fn new(action: Action, resource: impl Into<String>) -> Self {
        StepResult {
            action,
            resource: resource.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// One unit of work: one resource key.
pub struct Step<C> {
    pub name: String,
    /// The group its progress is shown in: one line per group, when all of it is done.
    pub group: &'static str,
    /// What the progress line says while it runs.
    pub doing: &'static str,
    pub deps: Vec<String>,
    pub run: StepFn<C>,
}

/// The result of a run: every finished step's outcome, and the first failure.
pub struct RunReport {
    pub outcomes: Vec<Outcome>,
    pub error: Option<(String, anyhow::Error)>,
    /// Steps that never started because a step failed or the run was interrupted.
    pub skipped: Vec<String>,
    /// Ctrl-C or SIGTERM stopped the run.
    pub interrupted: bool,
}

/// What a failed step does to the rest of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Start nothing new (deploy: stop early, the next run resumes).
    StopStarting,
    /// Go on with every step that does not depend on the failed one (teardown: remove all
    /// that can be removed).
    FinishIndependent,
}

/// How the run reacts to Ctrl-C / SIGTERM.
#[derive(Clone)]
pub struct Stop {
    pub interrupts: crate::signal::Interrupts,
    /// After the first signal, how long the steps in flight may take to finish.
    pub grace: Duration,
}

/// The most telling of two actions, for a group's line.
pub fn strongest(a: Action, b: Action) -> Action {
    let rank = |x: &Action| match x {
        Action::Created => 4,
        Action::Updated => 3,
        Action::Deleted => 3,
        Action::Adopted => 2,
        Action::Skipped => 1,
        _ => 0,
    };
    if rank(&b) > rank(&a) {
        b
    } else {
        a
    }
}

/// The outcomes folded into one per group, in the order the groups finished: what the report
/// and the progress lines show.
pub fn by_group(outcomes: &[Outcome]) -> Vec<Outcome> {
    let mut out: Vec<Outcome> = Vec::new();
    for o in outcomes {
        match out.iter_mut().find(|g| g.step == o.step) {
            None => out.push(Outcome {
                key: o.step.clone(),
                ..o.clone()
            }),
            Some(g) => {
                g.action = strongest(g.action.clone(), o.action.clone());
                g.resource = format!("{}, {}", g.resource, o.resource);
                g.detail = match (g.detail.take(), &o.detail) {
                    (Some(a), Some(b)) if a == *b => Some(a),
                    (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                    (a, b) => a.or_else(|| b.clone()),
                };
                g.seconds = g.seconds.max(o.seconds);
            }
        }
    }
    out
}

/// Runs the steps, each as soon as its dependencies are done.
pub async fn run<C: Send + Sync + 'static>(
    ctx: Arc<C>,
    steps: Vec<Step<C>>,
    progress: &Progress,
    stop: Option<Stop>,
    on_failure: OnFailure,
) -> RunReport {
    debug_assert!(check_graph(&steps).is_ok(), "{:?}", check_graph(&steps));
    let mut done: HashSet<String> = HashSet::new();
    let mut started: HashSet<String> = HashSet::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut error: Option<(String, anyhow::Error)> = None;
    let mut running = FuturesUnordered::new();
    // Steps of each group still to finish, and when the group's first one started.
    let mut left: HashMap<&'static str, usize> = HashMap::new();
    for s in &steps {
        *left.entry(s.group).or_default() += 1;
    }
    let mut group_started: HashMap<&'static str, Instant> = HashMap::new();
    let (mut interrupts, grace) = match stop {
        Some(s) => (Some(s.interrupts), s.grace),
        None => (None, Duration::ZERO),
    };
    let mut interrupted_at: Option<tokio::time::Instant> = None;
    let mut abandoned = false;

    loop {
        let may_start = error.is_none() || on_failure == OnFailure::FinishIndependent;
        if may_start && interrupted_at.is_none() {
            for step in &steps {
                if !started.contains(&step.name) && step.deps.iter().all(|d| done.contains(d)) {
                    started.insert(step.name.clone());
                    if !group_started.contains_key(step.group) {
                        group_started.insert(step.group, Instant::now());
                        progress.start(step.group, step.doing);
                    }
                    let fut = (step.run)(ctx.clone());
                    let (name, group) = (step.name.clone(), step.group);
                    running.push(async move {
                        let t0 = Instant::now();
                        let res = fut.await;
                        (name, group, res, t0.elapsed())
                    });
                }
            }
        }
        if running.is_empty() {
            break;
        }
        // Biased: a signal that has arrived is seen before a step that finished at the same
        // time can start the next one.
        let next = tokio::select! {
            biased;
            n = signal_count(&mut interrupts) => {
                if interrupted_at.is_none() && n == 1 {
                    interrupted_at = Some(tokio::time::Instant::now());
                    progress.line(&format!(
                        "Interrupted: starting nothing new; waiting up to {} s for the calls in flight (interrupt again to stop now)",
                        grace.as_secs()
                    ));
                    continue;
                }
                abandoned = true;
                break;
            }
            _ = sleep_until_some(interrupted_at.map(|t| t + grace)) => {
                abandoned = true;
                break;
            }
            r = running.next() => r,
        };
        let Some((name, group, res, elapsed)) = next else {
            break;
        };
        if let Some(n) = left.get_mut(group) {
            *n = n.saturating_sub(1);
        }
        let group_done = left.get(group) == Some(&0);
        let group_elapsed = group_started.get(group).map_or(elapsed, |t| t.elapsed());
        match res {
            Ok(r) => {
                done.insert(name.clone());
                outcomes.push(Outcome {
                    step: group.to_string(),
                    key: name,
                    action: r.action,
                    resource: r.resource,
                    detail: r.detail,
                    seconds: elapsed.as_secs_f64(),
                });
                if group_done {
                    let mine: Vec<Outcome> = outcomes
                        .iter()
                        .filter(|o| o.step == group)
                        .cloned()
                        .collect();
                    if let Some(g) = by_group(&mine).pop() {
                        let words = match &g.detail {
                            Some(d) => format!("{:?} {} ({d})", g.action, g.resource),
                            None => format!("{:?} {}", g.action, g.resource),
                        }
                        .to_lowercase_first();
                        progress.finish(group, true, &words, group_elapsed);
                    }
                }
            }
            Err(e) => {
                progress.finish(group, false, &format!("{name}: {e:#}"), elapsed);
                if error.is_none() {
                    error = Some((name, e));
                }
            }
        }
    }
    let skipped = steps
        .iter()
        .map(|s| s.name.clone())
        .filter(|n| !started.contains(n))
        .collect();
    let interrupted = interrupted_at.is_some() || abandoned;
    if abandoned {
        progress.line("Stopped; the calls still in flight were abandoned (anything they made is found and adopted by the next run).");
    }
    RunReport {
        outcomes,
        error,
        skipped,
        interrupted,
    }
}

/// Resolves with the new count when a signal arrives; never, without a receiver.
async fn signal_count(rx: &mut Option<crate::signal::Interrupts>) -> u32 {
    match rx {
        Some(rx) => match rx.changed().await {
            Ok(()) => *rx.borrow(),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn sleep_until_some(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Every dependency names a step, and there is no cycle.
pub fn check_graph<C>(steps: &[Step<C>]) -> Result<(), String> {
    let names: HashMap<&str, &Step<C>> = steps.iter().map(|s| (s.name.as_str(), s)).collect();
    for s in steps {
        for d in &s.deps {
            if !names.contains_key(d.as_str()) {
                return Err(format!("step {} depends on unknown step {d}", s.name));
            }
        }
    }
    let mut done: HashSet<&str> = HashSet::new();
    while done.len() < steps.len() {
        let before = done.len();
        for s in steps {
            if !done.contains(s.name.as_str()) && s.deps.iter().all(|d| done.contains(d.as_str())) {
                done.insert(s.name.as_str());
            }
        }
        if done.len() == before {
            return Err("the steps have a dependency cycle".into());
        }
    }
    Ok(())
}

trait LowerFirst {
    fn to_lowercase_first(self) -> String;
}

impl LowerFirst for String {
    fn to_lowercase_first(self) -> String {
        let mut c = self.chars();
        match c.next() {
            Some(f) => f.to_lowercase().chain(c).collect(),
            None => self,
        }
    }
}

/// A step for the tests: its own group.
#[cfg(test)]
pub fn test_step<C: 'static>(
    name: &'static str,
    deps: &[&str],
    run: fn(Arc<C>) -> BoxFuture<'static, anyhow::Result<StepResult>>,
) -> Step<C> {
    Step {
        name: name.to_string(),
        group: name,
        doing: "testing",
        deps: deps.iter().map(|d| d.to_string()).collect(),
        run: Box::new(run),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Default)]
    struct Log {
        events: Mutex<Vec<String>>,
    }

    fn step(
        name: &'static str,
        deps: &'static [&'static str],
        run: fn(Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>>,
    ) -> Step<Log> {
        test_step(name, deps, run)
    }

    fn slow_a(ctx: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async move {
            ctx.events.lock().unwrap().push("a start".into());
            tokio::time::sleep(Duration::from_millis(50)).await;
            ctx.events.lock().unwrap().push("a end".into());
            Ok(StepResult::new(Action::Created, "a"))
        })
    }
    fn quick_b(ctx: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async move {
            ctx.events.lock().unwrap().push("b".into());
            Ok(StepResult::new(Action::Created, "b"))
        })
    }
    fn after_ab(ctx: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async move {
            ctx.events.lock().unwrap().push("c".into());
            Ok(StepResult::new(Action::Created, "c"))
        })
    }
    fn failing(ctx: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async move {
            ctx.events.lock().unwrap().push("fail".into());
            anyhow::bail!("boom")
        })
    }

    #[tokio::test]
    async fn independent_steps_overlap_and_dependents_wait() {
        let ctx = Arc::new(Log::default());
        let report = run(
            ctx.clone(),
            vec![
                step("a", &[], slow_a),
                step("b", &[], quick_b),
                step("c", &["a", "b"], after_ab),
            ],
            &Progress::silent(),
            None,
            OnFailure::StopStarting,
        )
        .await;
        assert!(report.error.is_none());
        let ev = ctx.events.lock().unwrap().clone();
        // b ran while a was sleeping; c only after both.
        assert_eq!(ev, vec!["a start", "b", "a end", "c"]);
        assert_eq!(report.outcomes.len(), 3);
    }

    #[tokio::test]
    async fn a_failure_lets_running_steps_finish_and_starts_nothing_new() {
        let ctx = Arc::new(Log::default());
        let report = run(
            ctx.clone(),
            vec![
                step("a", &[], slow_a),
                step("f", &[], failing),
                step("c", &["f"], after_ab),
                step("d", &["a"], quick_b),
            ],
            &Progress::silent(),
            None,
            OnFailure::StopStarting,
        )
        .await;
        let (name, err) = report.error.expect("the failure is reported");
        assert_eq!(name, "f");
        assert_eq!(err.to_string(), "boom");
        let ev = ctx.events.lock().unwrap().clone();
        assert!(ev.contains(&"a end".to_string()), "{ev:?}");
        assert!(
            !ev.contains(&"c".to_string()) && !ev.contains(&"b".to_string()),
            "{ev:?}"
        );
        assert_eq!(report.skipped, vec!["c", "d"]);
    }

    #[test]
    fn graph_errors_are_found() {
        assert!(check_graph(&[step("a", &["b"], quick_b)]).is_err());
        assert!(check_graph(&[step("a", &["b"], quick_b), step("b", &["a"], quick_b)]).is_err());
        assert!(check_graph(&[step("a", &[], quick_b), step("b", &["a"], quick_b)]).is_ok());
    }
}

#[cfg(test)]
mod stop_tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log {
        events: Mutex<Vec<&'static str>>,
        /// Opened by the test once the signal is sent.
        gate: tokio::sync::Notify,
    }

    fn slow(ctx: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async move {
            ctx.gate.notified().await;
            ctx.events.lock().unwrap().push("slow done");
            Ok(StepResult::new(Action::Created, "slow"))
        })
    }
    fn forever(_: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async move {
            std::future::pending::<()>().await;
            Ok(StepResult::new(Action::Created, "never"))
        })
    }
    fn after(ctx: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async move {
            ctx.events.lock().unwrap().push("after");
            Ok(StepResult::new(Action::Created, "after"))
        })
    }

    fn steps(
        first: fn(Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>>,
    ) -> Vec<Step<Log>> {
        vec![
            test_step("first", &[], first),
            test_step("then", &["first"], after),
        ]
    }

    #[tokio::test]
    async fn a_signal_lets_the_step_in_flight_finish_and_starts_nothing_new() {
        let (tx, rx) = tokio::sync::watch::channel(0u32);
        let ctx = Arc::new(Log::default());
        let stop = Stop {
            interrupts: rx,
            grace: Duration::from_secs(5),
        };
        let c = ctx.clone();
        let run = tokio::spawn(async move {
            let p = Progress::silent();
            run(c, steps(slow), &p, Some(stop), OnFailure::StopStarting).await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send_modify(|n| *n += 1);
        // The step in flight ends only after the signal: whatever the machine's load, the
        // engine has seen the signal while it ran.
        tokio::time::sleep(Duration::from_millis(20)).await;
        ctx.gate.notify_one();
        let report = run.await.unwrap();
        assert!(report.interrupted);
        assert_eq!(*ctx.events.lock().unwrap(), vec!["slow done"]);
        assert_eq!(report.skipped, vec!["then"]);
        assert_eq!(report.outcomes.len(), 1);
    }

    #[tokio::test]
    async fn a_step_that_outlasts_the_grace_is_abandoned() {
        let (tx, rx) = tokio::sync::watch::channel(0u32);
        let ctx = Arc::new(Log::default());
        let stop = Stop {
            interrupts: rx,
            grace: Duration::from_millis(50),
        };
        let c = ctx.clone();
        let run = tokio::spawn(async move {
            let p = Progress::silent();
            run(c, steps(forever), &p, Some(stop), OnFailure::StopStarting).await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send_modify(|n| *n += 1);
        let report = tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .unwrap()
            .unwrap();
        assert!(report.interrupted);
        assert!(report.outcomes.is_empty());
    }

    #[tokio::test]
    async fn a_second_signal_stops_at_once() {
        let (tx, rx) = tokio::sync::watch::channel(0u32);
        let ctx = Arc::new(Log::default());
        let stop = Stop {
            interrupts: rx,
            grace: Duration::from_secs(60),
        };
        let c = ctx.clone();
        let run = tokio::spawn(async move {
            let p = Progress::silent();
            run(c, steps(forever), &p, Some(stop), OnFailure::StopStarting).await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send_modify(|n| *n += 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send_modify(|n| *n += 1);
        let report = tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .unwrap()
            .unwrap();
        assert!(report.interrupted);
    }
}

#[cfg(test)]
mod keep_going_tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log {
        events: Mutex<Vec<&'static str>>,
    }

    fn fails(_: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async { anyhow::bail!("no") })
    }
    fn slow_ok(ctx: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            ctx.events.lock().unwrap().push("independent root");
            Ok(StepResult::new(Action::Deleted, "a"))
        })
    }
    fn after_ok(ctx: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async move {
            ctx.events
                .lock()
                .unwrap()
                .push("after the independent root");
            Ok(StepResult::new(Action::Deleted, "b"))
        })
    }
    fn after_failed(ctx: Arc<Log>) -> BoxFuture<'static, anyhow::Result<StepResult>> {
        Box::pin(async move {
            ctx.events.lock().unwrap().push("after the failure");
            Ok(StepResult::new(Action::Deleted, "c"))
        })
    }

    #[tokio::test]
    async fn finish_independent_runs_everything_not_built_on_the_failure() {
        let ctx = Arc::new(Log::default());
        let steps = vec![
            test_step("bad", &[], fails),
            test_step("root", &[], slow_ok),
            test_step("child", &["root"], after_ok),
            test_step("blocked", &["bad"], after_failed),
        ];
        let report = run(
            ctx.clone(),
            steps,
            &Progress::silent(),
            None,
            OnFailure::FinishIndependent,
        )
        .await;
        assert_eq!(report.error.as_ref().map(|e| e.0.as_str()), Some("bad"));
        assert_eq!(
            *ctx.events.lock().unwrap(),
            vec!["independent root", "after the independent root"]
        );
        assert_eq!(report.skipped, vec!["blocked"]);
    }
}
