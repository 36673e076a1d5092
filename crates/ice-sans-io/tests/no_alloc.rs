//! Decoding and verifying a connectivity check, and building and signing one, allocate nothing:
//! a counting global allocator watches both paths. The only unsafe code of the workspace: a
//! global allocator cannot be written without it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ice_sans_io::stun::{
    Attribute, Class, Integrity, IntegrityKey, Message, MessageBuilder, Method, TransactionId,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: the counter forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn decode_verify_and_build_sign_do_not_allocate() {
    let key = IntegrityKey::short_term("asd88fgpdd777uzjYhagZg");
    let mut buf = [0u8; 256];
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new([3; 12]),
    )
    .unwrap();
    b.add(&Attribute::Username("9uB6:8hhy")).unwrap();
    b.add(&Attribute::Priority(1_853_824_767)).unwrap();
    b.add(&Attribute::IceControlling(42)).unwrap();
    b.add(&Attribute::UseCandidate).unwrap();
    b.add_integrity(&key).unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    let m = Message::decode(&buf[..n]).unwrap();
    let ok = m.verify_integrity(&key) == Integrity::Ok
        && m.fingerprint().is_ok()
        && m.username() == Some("9uB6:8hhy")
        && m.priority() == Some(1_853_824_767)
        && m.ice_controlling() == Some(42)
        && m.use_candidate();
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert!(ok);
    assert_eq!(
        after - before,
        0,
        "allocations on the build-sign-decode-verify path"
    );
}
