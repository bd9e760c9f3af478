namespace Rx.Netstack.Tcp;

/// <summary>
/// The least of the samples taken in the last <c>window</c> of time, kept in constant space: Kathleen Nichols' windowed
/// filter (as Linux's win_minmax keeps RACK's and BBR's minimum RTT). Three candidates are held — the least, the least
/// since it, the least since that — each with its time, so when the least grows too old the next one takes over without a
/// scan; a new sample at or below a candidate replaces it and those after it.
/// </summary>
internal struct WindowedMinimum
{
    private Instant _at0, _at1, _at2;         // when each candidate was taken (oldest first)
    private TimeSpan _value0, _value1, _value2; // the candidates: _value0 ≤ _value1 ≤ _value2
    private bool _any;                        // a sample was taken

    /// <summary>The least sample in the window, or null before the first.</summary>
    public readonly TimeSpan? Value => _any ? _value0 : null;

    /// <summary>Takes <paramref name="sample"/> at <paramref name="now"/>; samples older than <paramref name="window"/> expire.</summary>
    public void Update(Instant now, TimeSpan sample, TimeSpan window)
    {
        if (!_any || sample <= _value0 || now - _at2 > window)
        {
            // A new least, or nothing left in the window: the sample stands alone.
            _any = true;
            _at0 = _at1 = _at2 = now;
            _value0 = _value1 = _value2 = sample;
            return;
        }
        if (sample <= _value1)
        {
            _at1 = _at2 = now;
            _value1 = _value2 = sample;
        }
        else if (sample <= _value2)
        {
            _at2 = now;
            _value2 = sample;
        }

        TimeSpan age = now - _at0;
        if (age > window)
        {
            // The least expired: the next candidates move up, the sample joins as the newest (twice if needed).
            Shift(now, sample);
            if (now - _at0 > window) Shift(now, sample);
        }
        else if (_at1 == _at0 && age > window / 4)
        {
            // A quarter of the window passed with one candidate only: keep a later one in reserve.
            _at1 = _at2 = now;
            _value1 = _value2 = sample;
        }
        else if (_at2 == _at1 && age > window / 2)
        {
            _at2 = now;
            _value2 = sample;
        }
    }

    private void Shift(Instant now, TimeSpan sample)
    {
        _at0 = _at1;
        _value0 = _value1;
        _at1 = _at2;
        _value1 = _value2;
        _at2 = now;
        _value2 = sample;
    }
}
