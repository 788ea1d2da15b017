# The faults operators see, with real users, processes and load on loopback: the dispatcher killed
# under load, reloads under keep-alive load, counters after load and attacks, running out of
# descriptors, a crash-looping pool, odd request heads. Each It names the behaviour it proves.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Port = 18331
    $script:Base = New-TestRoot
    $script:Root = Join-Path $Base 'etc'
    $script:Sock = Join-Path $Base 'itkd.sock'
    $script:LogFile = Join-Path $Base 'itkd.log'
    New-TestUser 'itkf-a'; New-TestUser 'itkf-b'; New-TestUser 'itkf-c'
    foreach ($t in 'a', 'b', 'c') {
        $d = Join-Path $Base "www/$t"
        New-Item -ItemType Directory -Force $d | Out-Null
        Set-Content "$d/index.html" "index of tenant $t"
        [IO.File]::WriteAllBytes("$d/big.bin", [byte[]]::new(4MB))
        New-ItkVhost -ConfigRoot $Root -Name "$t.itkf.test" -DocumentRoot $d -Listen "127.0.0.1:$Port" -User "itkf-$t" -WarningAction SilentlyContinue
        Set-ItkUser -ConfigRoot $Root -Name "$t.itkf.test" -User "itkf-$t" -FixPermissions | Out-Null
    }
    chmod 0755 (Join-Path $Base 'www')
    Set-ItkVhost -ConfigRoot $Root -Name 'b.itkf.test' -MaxClients 100
    # tenant c's worker may idle 2 s only (itkd's own directive, which Apache skips)
    $cFile = Join-Path $Root 'vhosts.d/c.itkf.test.conf'
    (Get-Content -Raw $cFile) -replace '</VirtualHost>', "    <IfModule itkd.c>`n        ItkdIdleTimeout 2`n    </IfModule>`n</VirtualHost>" | Set-Content $cFile -NoNewline
    $script:Server = Start-ItkServer -ConfigRoot $Root -ControlSocket $Sock -LogPath $LogFile -PassThru
    foreach ($t in 'a', 'b') { $null = Get-HttpStatus $Port "$t.itkf.test" '/index.html' }

    function script:Get-Pool([string] $User) { (Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq $User }
    # wrk's totals: requests, and everything it counts as failed (socket errors, non-2xx).
    function script:Read-Wrk([string] $Text) {
        $requests = if ($Text -match '(\d+) requests in') { [int]$Matches[1] } else { 0 }
        $errors = 0
        if ($Text -match 'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)') { $errors += [int]$Matches[1] + [int]$Matches[2] + [int]$Matches[3] + [int]$Matches[4] }
        if ($Text -match 'Non-2xx or 3xx responses: (\d+)') { $errors += [int]$Matches[1] }
        [pscustomobject]@{ Requests = $requests; Errors = $errors; Text = $Text }
    }
}

AfterAll {
    if ($Server -and (Get-Process -Id $Server.Pid -ErrorAction SilentlyContinue)) {
        kill -TERM $Server.Pid
        Wait-Process -Id $Server.Pid -Timeout 30 -ErrorAction SilentlyContinue
    }
    Remove-TestUser 'itkf-a', 'itkf-b', 'itkf-c'
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'The dispatcher killed under load' {
    It 'kill -9 of the dispatcher: workers keep their kept-alive connections, new ones resume within 0.5 s, nothing fails' {
        $workers = @((Get-ItkServer -ControlSocket $Sock).Pools.WorkerPids)
        $dispatcher = (Get-ItkServer -ControlSocket $Sock).DispatcherPid
        $kept = Start-Tool wrk @('-t1', '-c16', '-d5s', '-H', 'Host: a.itkf.test', "http://127.0.0.1:$Port/index.html") (Join-Path $Base 'kept.txt')
        $fresh = Start-Tool wrk @('-t1', '-c8', '-d5s', '-H', 'Connection: close', '-H', 'Host: b.itkf.test', "http://127.0.0.1:$Port/index.html") (Join-Path $Base 'fresh.txt')
        Start-Sleep -Milliseconds 1500   # the load is running when the dispatcher dies
        kill -9 $dispatcher
        $watch = [Diagnostics.Stopwatch]::StartNew()
        Wait-Until { (Get-HttpStatus $Port 'b.itkf.test' '/index.html' @('--max-time', '1')) -eq 200 } -TimeoutSeconds 5 -What 'a new connection to be served'
        $resumed = $watch.Elapsed.TotalSeconds
        $kept.WaitForExit(20000) | Should -BeTrue; $fresh.WaitForExit(20000) | Should -BeTrue
        $k = Read-Wrk $kept.OutputText.Result; $f = Read-Wrk $fresh.OutputText.Result
        $resumed | Should -BeLessThan 0.5 -Because 'the master starts the next dispatcher at once'
        $k.Errors | Should -Be 0 -Because "kept-alive connections live in the workers ($($k.Text))"
        $f.Errors | Should -Be 0 -Because "new connections wait in the listen queue the master holds ($($f.Text))"
        $k.Requests | Should -BeGreaterThan 1000
        (Get-ItkServer -ControlSocket $Sock).DispatcherPid | Should -Not -Be $dispatcher
        @((Get-ItkServer -ControlSocket $Sock).Pools.WorkerPids) | Should -Be $workers -Because 'the new dispatcher took the workers over'
        Select-String -Path $LogFile -Pattern 'E2006 WorkerAttached: itkf-a pid \d+: taken over with 16 open connection' -Quiet | Should -BeTrue
    }
}

Describe 'Reloads under keep-alive load' {
    It 'two SIGHUPs under keep-alive load lose no request, also on connections reused at the moment of the reload' {
        $wrk = Start-Tool wrk @('-t2', '-c16', '-d5s', '-H', 'Host: a.itkf.test', "http://127.0.0.1:$Port/index.html") (Join-Path $Base 'hup.txt')
        Start-Sleep -Milliseconds 1000
        $g = (Get-ItkServer -ControlSocket $Sock).Generation
        $null = Restart-ItkServer -ControlSocket $Sock -PassThru
        Start-Sleep -Milliseconds 800
        $null = Restart-ItkServer -ControlSocket $Sock -PassThru
        $wrk.WaitForExit(20000) | Should -BeTrue
        $r = Read-Wrk $wrk.OutputText.Result
        $r.Errors | Should -Be 0 -Because $r.Text
        $r.Requests | Should -BeGreaterThan 1000
        (Get-ItkServer -ControlSocket $Sock).Generation | Should -Be ($g + 2)
    }
}

Describe 'MaxClientsVHost counts the open connections, exactly, after load and attacks' {
    It 'after wrk -c100, slow readers and slow request bodies, the vhost counts none open and serves again' {
        $wrk = Start-Tool wrk @('-t2', '-c100', '-d3s', '-H', 'Host: b.itkf.test', "http://127.0.0.1:$Port/index.html") (Join-Path $Base 'c100.txt')
        # slow readers of a 4 MB file and clients that trickle a request body
        $slow = foreach ($i in 1..20) { Start-Tool curl @('-s', '-o', '/dev/null', '--max-time', '3', '--limit-rate', '20k', '-H', 'Host: b.itkf.test', "http://127.0.0.1:$Port/big.bin") }
        $bodies = foreach ($i in 1..20) {
            $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port)
            $s = $c.GetStream()
            $head = [Text.Encoding]::ASCII.GetBytes("POST /index.html HTTP/1.1`r`nHost: b.itkf.test`r`nContent-Length: 100000`r`n`r`nx")
            $s.Write($head, 0, $head.Length)
            $c
        }
        $wrk.WaitForExit(20000) | Should -BeTrue
        foreach ($p in $slow) { $p.WaitForExit(10000) | Out-Null }
        foreach ($c in $bodies) { $c.Dispose() }
        Wait-Until { (Get-Pool 'itkf-b').ActiveConnections -eq 0 } -TimeoutSeconds 10 -What 'the count to return to 0'
        (Get-HttpStatus $Port 'b.itkf.test' '/index.html') | Should -Be 200
        # and the limit still holds: 100 held open, the 101st gets 503
        $held = foreach ($i in 1..100) { $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port); $b = [Text.Encoding]::ASCII.GetBytes("GET /index.html HTTP/1.1`r`nHost: b.itkf.test`r`n`r`n"); $c.GetStream().Write($b, 0, $b.Length); $c }
        try {
            Wait-Until { (Get-Pool 'itkf-b').ActiveConnections -eq 100 } -What '100 open connections'
            (Get-HttpStatus $Port 'b.itkf.test' '/index.html') | Should -Be 503
        } finally { foreach ($c in $held) { $c.Dispose() } }
        Wait-Until { (Get-Pool 'itkf-b').ActiveConnections -eq 0 } -TimeoutSeconds 10 -What 'the count to return to 0 again'
    }
}

Describe 'The dispatcher after a surge' {
    It 'gives its memory back once the 1 200 connections it held are gone, and serves on' {
        $dispatcher = (Get-ItkServer -ControlSocket $Sock).DispatcherPid
        function Get-Rss { [long](((Get-Content "/proc/$dispatcher/status") -match '^VmRSS:' -split '\s+')[1]) }
        # Each begins a request head and never ends it: the kernel hands it to the dispatcher at once
        # (a connection that sends nothing waits out TCP_DEFER_ACCEPT's 5 s first, and a slow start of
        # 1 200 of those could outlast the head timeout of the first ones), and the dispatcher holds it.
        $partial = [Text.Encoding]::ASCII.GetBytes("GET /index.html HTTP/1.1`r`nHost: a.itkf.test`r`n")
        $held = foreach ($i in 1..1200) {
            $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port)
            $c.GetStream().Write($partial, 0, $partial.Length)
            $c
        }
        try {
            Wait-Until { @(Get-ChildItem "/proc/$dispatcher/fd").Count -ge 1200 } -What 'the dispatcher to accept the 1 200 connections'
            $during = Get-Rss
            Select-String -Path $LogFile -Pattern 'E2015 DispatcherTrimmed' -Quiet | Should -BeFalse -Because 'nothing is returned while the connections are held'
        } finally { foreach ($c in $held) { $c.Dispose() } }
        Wait-Until { Select-String -Path $LogFile -Pattern 'E2015 DispatcherTrimmed: \d+ connection\(s\) in hand after a peak of 1\d{3}' -Quiet } -What 'the dispatcher to return its memory'
        $after = Get-Rss
        $after | Should -BeLessThan $during -Because "the dispatcher held $during kB with the connections and returns memory once they are gone"
        Get-HttpStatus $Port 'a.itkf.test' '/index.html' | Should -Be 200
    }
}

Describe 'Out of descriptors' {
    It 'the dispatcher logs once, pauses accepting instead of spinning, and recovers' {
        $dispatcher = (Get-ItkServer -ControlSocket $Sock).DispatcherPid
        $soft = ((Get-Content "/proc/$dispatcher/limits" | Select-String 'Max open files') -split '\s+')[3]
        # As the dispatcher's own account (root may lack CAP_SYS_RESOURCE in a container): its soft limit only.
        & setpriv --reuid itkd --regid itkd --clear-groups prlimit --pid $dispatcher --nofile=128:
        $LASTEXITCODE | Should -Be 0
        $idle = foreach ($i in 1..200) { [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port) }  # connected, sending nothing
        try {
            Wait-Until { Select-String -Path $LogFile -Pattern 'E2013 AcceptFailed' -Quiet } -What 'the descriptor shortage to be logged'
            $cpu0 = [long]((Get-Content "/proc/$dispatcher/stat") -replace '^.*\) ', '' -split ' ')[11]
            Start-Sleep -Seconds 2
            $cpu1 = [long]((Get-Content "/proc/$dispatcher/stat") -replace '^.*\) ', '' -split ' ')[11]
            ($cpu1 - $cpu0) | Should -BeLessThan 50 -Because 'accepting is paused, not spun (utime in ticks over 2 s)'
            @(Select-String -Path $LogFile -Pattern 'E2013 AcceptFailed').Count | Should -BeLessOrEqual 2
        } finally { foreach ($c in $idle) { $c.Dispose() } }
        & setpriv --reuid itkd --regid itkd --clear-groups prlimit --pid $dispatcher --nofile=$($soft):
        Wait-Until { (Get-HttpStatus $Port 'a.itkf.test' '/index.html' @('--max-time', '2')) -eq 200 } -TimeoutSeconds 20 -What 'service to recover'
    }
}

Describe 'A crash-looping pool' {
    It 'while held back it logs once per period, not per request' {
        for ($i = 0; $i -lt 6 -and -not (Get-Pool 'itkf-a').Throttled; $i++) {
            $null = Get-HttpStatus $Port 'a.itkf.test' '/index.html'
            foreach ($w in (Get-Pool 'itkf-a').WorkerPids) { kill -KILL $w }
            Wait-Until { (Get-Pool 'itkf-a').Workers -eq 0 } -What 'the killed worker to be gone'
        }
        $null = Get-HttpStatus $Port 'a.itkf.test' '/index.html'
        Wait-Until { (Get-Pool 'itkf-a').Throttled } -What 'the pool to be held back'
        $before = @(Select-String -Path $LogFile -Pattern 'itkf-a').Count
        $codes = foreach ($i in 1..200) { Get-HttpStatus $Port 'a.itkf.test' '/index.html' }
        ($codes | Sort-Object -Unique) | Should -Be @(503)
        (@(Select-String -Path $LogFile -Pattern 'itkf-a').Count - $before) | Should -BeLessOrEqual 8 -Because '200 refused requests are a handful of lines'
        (Get-HttpStatus $Port 'b.itkf.test' '/index.html') | Should -Be 200 -Because 'other pools are not held back'
    }
}

Describe 'Idle workers' {
    It 'a vhost''s ItkdIdleTimeout retires its worker after that long without connections; the others stay' {
        (Get-HttpStatus $Port 'c.itkf.test' '/index.html') | Should -Be 200
        $c = (Get-Pool 'itkf-c').WorkerPids[0]
        $b = (Get-Pool 'itkf-b').WorkerPids[0]
        $crashes = (Get-Pool 'itkf-c').Crashes
        Wait-Until { -not (Test-Path "/proc/$c") } -TimeoutSeconds 10 -What 'tenant c''s idle worker to be retired'
        Test-Path "/proc/$b" | Should -BeTrue -Because 'tenant b keeps the default of 30 s'
        (Get-Pool 'itkf-c').Crashes | Should -Be $crashes -Because 'a retired worker did not crash'
        Select-String -Path $LogFile -Pattern "itkf-c pid $($c): idle for 2 s; retiring it" -Quiet | Should -BeTrue
        (Get-HttpStatus $Port 'c.itkf.test' '/index.html') | Should -Be 200 -Because 'the next request starts a new worker'
    }

    It 'Apache accepts the same vhost file (it skips IfModule itkd.c)' {
        $conf = Join-Path $Base 'apache-idle.conf'
        @((Get-ApacheTestConfig $Base), 'Listen 127.0.0.1:18339', 'User www-data', 'Group www-data', "Include $cFile") -join "`n" | Set-Content $conf
        $out = & apache2 -t -f $conf 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
    }
}

Describe 'Request heads' {
    It 'bare-LF and junk heads get 400 at once, as Apache answers' {
        foreach ($head in "GET / HTTP/1.1`nHost: b.itkf.test`n`n", "JUNK`r`n`r`n", "GET /`r`n`r`n") {
            $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port)
            try {
                $s = $c.GetStream(); $c.ReceiveTimeout = 5000
                $b = [Text.Encoding]::ASCII.GetBytes($head); $s.Write($b, 0, $b.Length)
                $watch = [Diagnostics.Stopwatch]::StartNew()
                [IO.StreamReader]::new($s).ReadLine() | Should -Be 'HTTP/1.1 400 Bad Request'
                $watch.Elapsed.TotalSeconds | Should -BeLessThan 1
            } finally { $c.Dispose() }
        }
    }

    It 'a Host header after 16 KB of other headers is routed by it' {
        $filler = (1..4 | ForEach-Object { "X-Filler-$($_): $('f' * 4000)" }) -join "`r`n"
        $r = Invoke-RawHttp -Port $Port -Requests @("GET /index.html HTTP/1.1`r`n$filler`r`nHost: b.itkf.test`r`nConnection: close`r`n`r`n")
        $r.Responses[0].Status | Should -Be 200
        $r.Responses[0].Body | Should -Match 'tenant b'
    }
}

Describe 'The master killed' {
    It 'kill -9 of the master: its children end on their own, and a new master starts on the same control socket at once' {
        $old = @($Server.Pid) + (Get-ItkServer -ControlSocket $Sock).Pools.WorkerPids + (Get-ItkServer -ControlSocket $Sock).DispatcherPid
        kill -9 $Server.Pid
        Wait-Until { -not ($old | Where-Object { Test-Path "/proc/$_" }) } -TimeoutSeconds 15 -What 'the dispatcher and workers to end'
        Test-Path $Sock | Should -BeTrue -Because 'a killed master leaves its socket behind'
        # what systemd's Restart= does (examples/systemd/itkd.service): start it again, no cleaning up by hand
        $script:Server = Start-ItkServer -ConfigRoot $Root -ControlSocket $Sock -LogPath $LogFile -PassThru -ErrorAction Stop
        (Get-HttpStatus $Port 'a.itkf.test' '/index.html') | Should -Be 200
    }
}

Describe 'A master whose parent ignores SIGHUP' {
    It 'started under nohup, it still reloads on SIGHUP (the ignored disposition it inherits is not kept)' {
        $config = $Server.ConfigFile
        kill -TERM $Server.Pid
        Wait-Process -Id $Server.Pid -Timeout 30
        $itkd = Join-Path (Split-Path $env:ITKPS_MODULE_PATH) 'itkd/itkd'
        # nohup sets SIGHUP to SIG_IGN, which exec keeps: what every process it starts inherits
        # (the premise, checked: bit 0 of SigIgn is SIGHUP)
        $ignored = (& /bin/sh -c 'exec nohup grep SigIgn /proc/self/status' 2>$null) -replace '^SigIgn:\s*', ''
        ([Convert]::ToUInt64($ignored, 16) -band 1) | Should -Be 1 -Because 'a process started by nohup ignores SIGHUP'
        $null = Start-Tool '/bin/sh' @('-c', 'exec nohup setsid "$0" --config "$1" --control-socket "$2" >>"$3" 2>&1 </dev/null', $itkd, $config, $Sock, $LogFile)
        Wait-Until { Get-ItkServer -ControlSocket $Sock -ErrorAction SilentlyContinue } -What 'itkd started under nohup to answer'
        $script:Server = Get-ItkServer -ControlSocket $Sock
        $after = Restart-ItkServer -ControlSocket $Sock -PassThru -ErrorAction Stop
        $after.Generation | Should -Be ($Server.Generation + 1)
        (Get-HttpStatus $Port 'a.itkf.test' '/index.html') | Should -Be 200
    }
}
