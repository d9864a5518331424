// The standard template library (`templates/`) is compiled into the API's binary
// (`templates::catalog::standard`): an edited template must rebuild it.
fn main() {
    println!("cargo::rerun-if-changed=../templates");
}
