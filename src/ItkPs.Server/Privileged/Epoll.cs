namespace ItkPs.Server.Privileged;

/// <summary>
/// An epoll set: the dispatcher's event loop (listeners, clients whose request head is still
/// arriving, worker channels) and the master's log relay run on one each. The 64-bit tag of a
/// registration comes back with its events; callers put a descriptor and a generation in it, so a
/// stale event for a closed and reused descriptor is recognised.
/// </summary>
public sealed unsafe class Epoll : IDisposable
{
    public const uint In = Native.EPOLLIN, Out = Native.EPOLLOUT, Error = Native.EPOLLERR, HangUp = Native.EPOLLHUP,
        PeerClosed = Native.EPOLLRDHUP, EdgeTriggered = Native.EPOLLET;

    private readonly int _fd;
    private readonly Native.EpollEvent[] _events;

    public Epoll(int capacity = 256)
    {
        _fd = Native.epoll_create1(Native.EPOLL_CLOEXEC);
        if (_fd < 0) throw new IOException($"epoll_create1: {Native.Error()}");
        _events = new Native.EpollEvent[capacity];
    }

    public void Add(int fd, uint events, ulong tag) => Control(Native.EPOLL_CTL_ADD, fd, events, tag);
    public void Modify(int fd, uint events, ulong tag) => Control(Native.EPOLL_CTL_MOD, fd, events, tag);

    /// <summary>Removes a descriptor; closing it does the same when no other descriptor refers to the same socket.</summary>
    public void Remove(int fd) => Native.epoll_ctl(_fd, Native.EPOLL_CTL_DEL, fd, null);

    private void Control(int op, int fd, uint events, ulong tag)
    {
        var ev = new Native.EpollEvent { Events = events, Data = tag };
        if (Native.epoll_ctl(_fd, op, fd, &ev) != 0) throw new IOException($"epoll_ctl({fd}): {Native.Error()}");
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> (-1: forever); the events are in <see cref="this[int]"/>.</summary>
    public int Wait(int timeoutMs)
    {
        fixed (Native.EpollEvent* e = _events)
        {
            int n = Native.epoll_wait(_fd, e, _events.Length, timeoutMs);
            if (n < 0 && Native.Errno != Native.EINTR) throw new IOException($"epoll_wait: {Native.Error()}");
            return Math.Max(0, n);
        }
    }

    public (uint Events, ulong Tag) this[int i] => (_events[i].Events, _events[i].Data);

    public void Dispose() => Native.close(_fd);
}
