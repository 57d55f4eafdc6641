//! [`ExpiringBody`]: a response body that ends when its token expires.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::TokenExpiry;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// The response body of [`EndStreams`](super::EndStreams): the inner body, ended at
    /// its token's expiry (see the [module](super)). Refusals and requests without a
    /// token that expires pass through untouched.
    pub struct ExpiringBody<B> {
        #[pin]
        inner: B,
        // `None`: forwards everything.
        expiry: Option<Expiry>,
    }
}

struct Expiry {
    deadline: Instant,
    /// Made at the body's first wait: a body that is ready at once needs none.
    timer: Option<Pin<Box<Sleep>>>,
    grpc: bool,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Streaming,
    /// The service sent its trailers: the stream is complete, nothing to add.
    TrailersSent,
    Ended,
}

/// The error an HTTP (not gRPC) [`ExpiringBody`] ends with when its token expires:
/// hyper then aborts the response, so the client sees it cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamExpired;

impl std::fmt::Display for StreamExpired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the access token that opened this stream expired")
    }
}

impl std::error::Error for StreamExpired {}

impl<B> ExpiringBody<B> {
    /// `inner`, ended at `expiry`; gRPC answers end with `UNAUTHENTICATED` trailers.
    pub(super) fn new(inner: B, expiry: Option<TokenExpiry>, grpc: bool) -> Self {
        let expiry = expiry.map(|e| Expiry { deadline: e.deadline(), timer: None, grpc, state: State::Streaming });
        Self { inner, expiry }
    }

    /// The inner body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for ExpiringBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpiringBody")
            .field("inner", &self.inner)
            .field("deadline", &self.expiry.as_ref().map(|e| e.deadline))
            .finish()
    }
}

impl<B> Body for ExpiringBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let this = self.project();
        let Some(expiry) = this.expiry else {
            return this.inner.poll_frame(cx).map_err(Into::into);
        };
        if expiry.state == State::Ended {
            return Poll::Ready(None);
        }
        // Checked before every frame, so that a body that is always ready is cut too.
        if Instant::now() >= expiry.deadline {
            return Poll::Ready(expiry.end());
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if frame.is_trailers() {
                    expiry.state = State::TrailersSent;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => {
                let deadline = expiry.deadline;
                let timer = expiry.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(expiry.end())
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.expiry {
            Some(e) if e.state == State::Ended => true,
            _ => self.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.expiry {
            Some(e) if e.state == State::Ended => SizeHint::with_exact(0),
            _ => self.inner.size_hint(),
        }
    }
}

impl Expiry {
    /// The last frame of a body whose token expired.
    fn end<D>(&mut self) -> Option<Result<Frame<D>, BoxError>> {
        let state = std::mem::replace(&mut self.state, State::Ended);
        self.timer = None;
        match state {
            State::Streaming if self.grpc => Some(Ok(Frame::trailers(unauthenticated()))),
            State::Streaming => Some(Err(Box::new(StreamExpired))),
            State::TrailersSent | State::Ended => None,
        }
    }
}

/// gRPC's `UNAUTHENTICATED`, as trailers.
fn unauthenticated() -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(2);
    trailers.insert("grpc-status", HeaderValue::from_static("16"));
    trailers.insert("grpc-message", HeaderValue::from_static("access token expired"));
    trailers
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    fn expiry_in(ms: u64) -> Option<TokenExpiry> {
        Some(TokenExpiry::new(1, Instant::now() + std::time::Duration::from_millis(ms)))
    }

    #[tokio::test]
    async fn a_ready_body_passes_whole_and_its_hints_are_the_inner_ones() {
        let body = ExpiringBody::new(Full::new(bytes::Bytes::from_static(b"hello")), expiry_in(60_000), false);
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
        let mut body = std::pin::pin!(body);
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "hello");
        assert!(body.frame().await.is_none());
        assert!(body.expiry.as_ref().is_some_and(|e| e.timer.is_none()), "no timer for a body that never waited");
        let empty = ExpiringBody::new(Full::new(bytes::Bytes::new()), expiry_in(60_000), false);
        assert!(empty.is_end_stream(), "an empty inner body is at its end");
    }

    #[tokio::test]
    async fn an_endless_ready_body_is_cut_at_the_deadline() {
        let chunks = futures_util::stream::repeat_with(|| {
            Ok::<_, std::convert::Infallible>(Frame::data(bytes::Bytes::from_static(b"x")))
        });
        let started = std::time::Instant::now();
        let mut body = std::pin::pin!(ExpiringBody::new(StreamBody::new(chunks), expiry_in(50), false));
        let mut frames = 0u64;
        let error = loop {
            match body.frame().await {
                Some(Ok(_)) => frames += 1,
                Some(Err(e)) => break e,
                None => panic!("ended cleanly"),
            }
            if frames.is_multiple_of(1024) {
                tokio::task::yield_now().await;
            }
        };
        assert!(error.is::<StreamExpired>(), "{error}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(50), "not before the deadline");
        assert!(frames > 0, "frames flowed until then");
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none(), "nothing after the end");
    }

    #[tokio::test]
    async fn grpc_trailers_already_sent_get_nothing_more() {
        let frames = vec![
            Ok::<_, std::convert::Infallible>(Frame::data(bytes::Bytes::from_static(b"m"))),
            Ok(Frame::trailers(HeaderMap::new())),
        ];
        let stream =
            futures_util::StreamExt::chain(futures_util::stream::iter(frames), futures_util::stream::pending());
        let mut body = std::pin::pin!(ExpiringBody::new(StreamBody::new(stream), expiry_in(20), true));
        assert!(body.frame().await.unwrap().unwrap().is_data());
        assert!(body.frame().await.unwrap().unwrap().is_trailers());
        assert!(body.frame().await.is_none(), "no second trailers after the service's own");
    }
}
