"""Use cases. Each public function is one thing a client asks for, and owns its commit."""
