fn main() {
    println!("logstore-sim");
}
