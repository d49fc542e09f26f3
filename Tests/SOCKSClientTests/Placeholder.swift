// SOCKSClient tests are added below.
