//! Domain events on SQS (to be written: see the `Events` port).
