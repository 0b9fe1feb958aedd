//! The API from another language: Python stubs generated from `proto/` with `grpcio-tools` drive
//! one `twinstore node` through a twin's lifecycle (`cli/tests/python/twin_lifecycle.py`).
//!
//! This is what proves `proto/` compiles with the reference protobuf toolchain (grpcio-tools
//! bundles protoc) and that the generated code works against the server, not only tonic's. The
//! packages are pinned in `cli/tests/python/requirements.txt` and installed into a virtualenv under
//! `target/py-venv`, reused while the requirements are unchanged. Python is required: without
//! `python3` (or its `venv` module) the test fails and says what to install, it does not skip.

mod common;

use common::{NodeProc, repo_path, wait_child};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Creating the virtualenv and installing the pinned packages (downloads on the first run).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// Generating the stubs.
const GENERATE_TIMEOUT: Duration = Duration::from_secs(120);
/// The lifecycle script (each of its calls has a 10 s deadline of its own).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs `program args`, output to `log`, for at most `within`; panics with the output when it
/// fails or overruns.
fn run(what: &str, program: &Path, args: &[&str], log: &Path, within: Duration) {
    let out = std::fs::File::create(log).expect("cannot create a log file");
    let err = out.try_clone().expect("cannot clone a log file");
    let mut child = Command::new(program)
        .args(args)
        .current_dir(repo_path(""))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot run {}: {e}", program.display()));
    let status = wait_child(&mut child, within);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let output = std::fs::read_to_string(log).unwrap_or_default();
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("{what} failed ({s}):\n{output}"),
        None => panic!("{what} did not finish within {within:?}:\n{output}"),
    }
}

/// The virtualenv's python, with the pinned packages installed.
fn venv_python(work: &Path) -> std::path::PathBuf {
    let venv = repo_path("target/py-venv");
    let python = venv.join("bin/python");
    let requirements = repo_path("cli/tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("cli/tests/python/requirements.txt");
    let stamp = venv.join("twinstore-requirements.txt");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return python;
    }
    let python3 = Path::new("python3");
    let probe = Command::new(python3).args(["-c", "import venv, ensurepip"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "python3 has no venv/ensurepip module (Debian: apt-get install python3-venv); this \
             test needs it: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "python3 is not installed (Debian: apt-get install python3 python3-venv); this test \
             needs it to prove the API works from Python: {e}"
        ),
    }
    let venv_arg = venv.display().to_string();
    let log = work.join("venv.log");
    run(
        "creating the virtualenv",
        python3,
        &["-m", "venv", "--clear", &venv_arg],
        &log,
        INSTALL_TIMEOUT,
    );
    let req_arg = requirements.display().to_string();
    let pip_args = ["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", &req_arg];
    run("pip install", &python, &pip_args, &work.join("pip.log"), INSTALL_TIMEOUT);
    std::fs::write(&stamp, wanted).expect("cannot write the virtualenv's stamp");
    python
}

#[test]
fn a_twin_s_lifecycle_through_python_stubs_generated_from_proto() {
    let work = tempfile::tempdir().unwrap();
    let python = venv_python(work.path());

    // Stubs from proto/ as shipped, with grpcio-tools' protoc.
    let stubs = repo_path("target/py-stubs");
    let _ = std::fs::remove_dir_all(&stubs);
    std::fs::create_dir_all(&stubs).unwrap();
    // Relative to the repository (the working directory), under the include path `proto`.
    let mut protos: Vec<String> = std::fs::read_dir(repo_path("proto/twinstore/v1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".proto"))
        .map(|name| format!("proto/twinstore/v1/{name}"))
        .collect();
    protos.sort();
    assert!(protos.len() >= 6, "the protos of twinstore.v1: {protos:?}");
    let out = stubs.display().to_string();
    let (python_out, grpc_out) =
        (format!("--python_out={out}"), format!("--grpc_python_out={out}"));
    let mut args = vec!["-m", "grpc_tools.protoc", "-I", "proto", &python_out, &grpc_out];
    args.extend(protos.iter().map(String::as_str));
    run(
        "generating the Python stubs",
        &python,
        &args,
        &work.path().join("protoc.log"),
        GENERATE_TIMEOUT,
    );
    assert!(stubs.join("twinstore/v1/twins_pb2_grpc.py").exists(), "no stubs generated");

    // One node, and the script against it.
    let data = work.path().join("node");
    let node = NodeProc::start(&data);
    let script = repo_path("cli/tests/python/twin_lifecycle.py").display().to_string();
    let log = work.path().join("script.log");
    run(
        "cli/tests/python/twin_lifecycle.py",
        &python,
        &[&script, &out, &node.addr],
        &log,
        SCRIPT_TIMEOUT,
    );
    let output = std::fs::read_to_string(&log).unwrap();
    println!("{output}");
    assert!(output.contains("PASSED"), "the script did not finish:\n{output}");
    node.kill9();
}
