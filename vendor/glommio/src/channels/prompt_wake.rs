//! corecached patch 21 ("prompt wake"): wakes that someone waits on (a reply, a batch whose
//! asker waits for its answer) reach the sleeping executor at once, never held by patch 15.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

/// Runs `f` so that every wake of another executor it asks for (a channel send's, a foreign
/// `Waker::wake`) is sent at once. Patch 15 lets a sender hold back the wake of a peer that
/// expects its own I/O to wake it soon, up to the sender's next timer; that guess fails when
/// the peer's I/O, or the sender's, waits on this very wake.
pub fn prompt<R>(f: impl FnOnce() -> R) -> R {
    let _prompt = crate::sys::late_wake::Prompt::begin();
    f()
}

pin_project_lite::pin_project! {
    /// A future polled inside [`prompt`] (see [`prompt_wake`]).
    #[derive(Debug)]
    pub struct PromptWake<F> {
        #[pin]
        inner: F,
    }
}

/// `send`, each of whose polls runs inside [`prompt`]: the wakes it asks for are sent at once.
pub fn prompt_wake<F: Future>(send: F) -> PromptWake<F> {
    PromptWake { inner: send }
}

impl<F: Future> Future for PromptWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let inner = self.project().inner;
        prompt(|| inner.poll(cx))
    }
}
