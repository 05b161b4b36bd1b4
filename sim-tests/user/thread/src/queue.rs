//! An intrusive FIFO of threads, linked through the threads themselves: the run
//! queue of a pool and the library's sleep queues are made of it, so that queuing
//! a thread never allocates (the library has no heap). The queue is plain data:
//! whoever holds the lock that guards it calls these.

use core::cell::Cell;

/// Something that can be on one [`Fifo`] at a time: it carries the link.
pub trait Linked: Sync + 'static {
    fn link(&self) -> &Cell<Option<&'static Self>>;
}

/// A FIFO of `&'static T`.
pub struct Fifo<T: Linked> {
    head: Option<&'static T>,
    tail: Option<&'static T>,
}

impl<T: Linked> Fifo<T> {
    pub const fn new() -> Fifo<T> {
        Fifo { head: None, tail: None }
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Queues `t` at the back. It must be on no queue.
    #[inline]
    pub fn push(&mut self, t: &'static T) {
        t.link().set(None);
        match self.tail {
            Some(last) => last.link().set(Some(t)),
            None => self.head = Some(t),
        }
        self.tail = Some(t);
    }

    /// Queues `t` at the front, to be taken first (a free list, where the most
    /// recently freed is the warmest). It must be on no queue.
    #[inline]
    pub fn push_front(&mut self, t: &'static T) {
        t.link().set(self.head);
        if self.head.is_none() {
            self.tail = Some(t);
        }
        self.head = Some(t);
    }

    /// Takes the first.
    #[inline]
    pub fn pop(&mut self) -> Option<&'static T> {
        let t = self.head?;
        self.head = t.link().take();
        if self.head.is_none() {
            self.tail = None;
        }
        Some(t)
    }

    /// Takes the first and queues `t` at the back, in one step (a yield): `None`,
    /// and `t` not queued, if the queue is empty. `t` must be on no queue.
    #[inline]
    pub fn swap_front(&mut self, t: &'static T) -> Option<&'static T> {
        let first = self.head?;
        t.link().set(None);
        match first.link().take() {
            // It was alone: `t` is now.
            None => self.head = Some(t),
            Some(second) => {
                self.head = Some(second);
                if let Some(last) = self.tail {
                    last.link().set(Some(t));
                }
            }
        }
        self.tail = Some(t);
        Some(first)
    }

    /// Takes the first that `want` accepts.
    pub fn take_first(&mut self, want: impl Fn(&T) -> bool) -> Option<&'static T> {
        let (mut prev, mut cur): (Option<&'static T>, _) = (None, self.head);
        while let Some(t) = cur {
            let next = t.link().get();
            if want(t) {
                match prev {
                    None => self.head = next,
                    Some(p) => p.link().set(next),
                }
                if next.is_none() {
                    self.tail = prev;
                }
                t.link().set(None);
                return Some(t);
            }
            prev = Some(t);
            cur = next;
        }
        None
    }

    /// The queued threads, first to last.
    pub fn iter(&self) -> impl Iterator<Item = &'static T> + '_ {
        core::iter::successors(self.head, |t| t.link().get())
    }
}

impl<T: Linked> Default for Fifo<T> {
    fn default() -> Self {
        Fifo::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::boxed::Box;
    use std::vec::Vec;

    struct Node {
        id: u32,
        link: Cell<Option<&'static Node>>,
    }
    // SAFETY: in this test, nodes are only touched by the test's one thread.
    unsafe impl Sync for Node {}

    impl Linked for Node {
        fn link(&self) -> &Cell<Option<&'static Node>> {
            &self.link
        }
    }

    fn nodes(n: u32) -> Vec<&'static Node> {
        (0..n).map(|id| &*Box::leak(Box::new(Node { id, link: Cell::new(None) }))).collect()
    }

    fn ids(q: &Fifo<Node>) -> Vec<u32> {
        q.iter().map(|n| n.id).collect()
    }

    #[test]
    fn fifo_order_and_removal_anywhere() {
        let n = nodes(5);
        let mut q = Fifo::new();
        assert!(q.pop().is_none());
        for &x in &n {
            q.push(x);
        }
        assert_eq!(ids(&q), [0, 1, 2, 3, 4]);
        assert_eq!(q.take_first(|x| x.id == 2).map(|x| x.id), Some(2), "from the middle");
        assert_eq!(q.take_first(|x| x.id == 4).map(|x| x.id), Some(4), "the last");
        assert_eq!(ids(&q), [0, 1, 3]);
        q.push(n[4]);
        assert_eq!(ids(&q), [0, 1, 3, 4], "the tail was kept right");
        assert_eq!(q.pop().map(|x| x.id), Some(0));
        assert_eq!(ids(&q), [1, 3, 4]);
        assert!(q.take_first(|x| x.id == 9).is_none());
        while q.pop().is_some() {}
        assert!(q.is_empty());
        q.push(n[2]);
        assert_eq!(ids(&q), [2], "an emptied queue starts afresh");
    }

    #[test]
    fn push_front_is_taken_first() {
        let n = nodes(4);
        let mut q = Fifo::new();
        q.push_front(n[0]);
        assert_eq!(ids(&q), [0], "into an empty queue");
        q.push(n[1]);
        q.push_front(n[2]);
        assert_eq!(ids(&q), [2, 0, 1]);
        q.push(n[3]);
        assert_eq!(ids(&q), [2, 0, 1, 3], "the tail was kept right");
        assert_eq!(q.pop().map(|x| x.id), Some(2));
        while q.pop().is_some() {}
        q.push_front(n[1]);
        q.push(n[0]);
        assert_eq!(ids(&q), [1, 0], "an emptied queue's tail is the one pushed in front");
    }

    #[test]
    fn swap_front_takes_the_first_and_queues_at_the_back() {
        let n = nodes(4);
        let mut q = Fifo::new();
        assert!(q.swap_front(n[0]).is_none(), "empty: nothing taken");
        assert!(q.is_empty(), "and nothing queued");
        q.push(n[1]);
        assert_eq!(q.swap_front(n[0]).map(|x| x.id), Some(1), "alone");
        assert_eq!(ids(&q), [0]);
        q.push(n[2]);
        q.push(n[3]);
        assert_eq!(q.swap_front(n[1]).map(|x| x.id), Some(0), "of three");
        assert_eq!(ids(&q), [2, 3, 1]);
        q.push(n[0]);
        assert_eq!(ids(&q), [2, 3, 1, 0], "the tail was kept right");
        while q.pop().is_some() {}
        assert!(q.is_empty());
    }
}
