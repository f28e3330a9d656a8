//! corecached patch 21 ("prompt wake"): sends whose receiver, or whose sender's own clients,
//! wait on them wake the receiver at once, never held back by patch 15.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

pin_project_lite::pin_project! {
    /// A future whose channel sends wake a sleeping receiver at once (see [`prompt_wake`]).
    #[derive(Debug)]
    pub struct PromptWake<F> {
        #[pin]
        inner: F,
    }
}

/// Runs `send` so that a peer it wakes is woken at once. Patch 15 lets a sender hold back the
/// wake of a peer that expects its own I/O to wake it soon, up to the sender's next timer;
/// that guess fails when the peer's I/O, or the sender's, waits on this very message.
pub fn prompt_wake<F: Future>(send: F) -> PromptWake<F> {
    PromptWake { inner: send }
}

impl<F: Future> Future for PromptWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _prompt = crate::sys::late_wake::Prompt::begin();
        self.project().inner.poll(cx)
    }
}
