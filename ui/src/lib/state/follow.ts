// Subscriptions that last as long as a component.
import type { Unsubscribe } from '../backend/types';

/** Subscribes now and returns a synchronous stop, safe to call before the subscription resolves. */
export function follow(subscribe: () => Promise<Unsubscribe>): Unsubscribe {
  let stop: Unsubscribe | null = null;
  let stopped = false;
  void subscribe().then((unsubscribe) => {
    if (stopped) unsubscribe();
    else stop = unsubscribe;
  });
  return () => {
    stopped = true;
    stop?.();
  };
}
